"""``python -m marrtino_facemask demo``: the real node on a bundled sample stream.

Starts ``facemask_detector`` in its own process, publishes a 640x480 bgr8 stream on
/camera/image_raw as a camera driver would, prints what the node reports for each frame,
writes the annotated frames to ``--out``, then prints per-class counts and the frame rate
and stops by itself.

The frames are made from public-domain pictures that ship inside the scikit-image package
(``skimage.data``): the astronaut Eileen Collins moving through the view, and scenes without
faces (coffee, rocket).
"""

import argparse
import os
import signal
import subprocess
import sys
import time
from collections import Counter

import cv2
import numpy as np

from ..faces import DEFAULT_DETECTOR, DETECTOR_KINDS

WIDTH, HEIGHT = 640, 480


def sample_stream(n_frames):
    """Frames of a synthetic camera: the astronaut panning and zooming, then faceless scenes."""
    from skimage import data
    astronaut = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)
    others = [cv2.cvtColor(getattr(data, name)(), cv2.COLOR_RGB2BGR)
              for name in ("coffee", "rocket")]
    frames = []
    for i in range(n_frames):
        canvas = np.full((HEIGHT, WIDTH, 3), 40, np.uint8)
        phase = i / max(n_frames - 1, 1)
        if phase < 0.75:
            t = phase / 0.75
            side = int(300 + 180 * np.sin(np.pi * t))          # zoom in and out
            img = cv2.resize(astronaut, (side, side), interpolation=cv2.INTER_AREA)
            if i % 8 >= 4:
                img = img[:, ::-1]                             # and look the other way
            x = int((WIDTH - side) * t)
            y = (HEIGHT - side) // 2
            canvas[y:y + side, x:x + side] = img
        else:
            other = others[i % len(others)]
            scale = min(WIDTH / other.shape[1], HEIGHT / other.shape[0])
            img = cv2.resize(other, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
            y, x = (HEIGHT - img.shape[0]) // 2, (WIDTH - img.shape[1]) // 2
            canvas[y:y + img.shape[0], x:x + img.shape[1]] = img
        frames.append(canvas)
    return frames


def parse_args(argv):
    p = argparse.ArgumentParser(prog="python -m marrtino_facemask demo", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--frames", type=int, default=48, help="frames to publish")
    p.add_argument("--fps", type=float, default=8.0, help="camera frame rate")
    p.add_argument("--out", default="demo_out", help="folder for the annotated frames")
    p.add_argument("--model", default="", help="checkpoint (default: the shipped model)")
    p.add_argument("--detector", default=DEFAULT_DETECTOR, choices=DETECTOR_KINDS)
    p.add_argument("--startup-timeout", type=float, default=90.0)
    args = p.parse_args(argv)
    if args.frames < 1 or args.fps <= 0:
        p.error("--frames must be at least 1 and --fps above 0")
    return args


def start_node(args):
    cmd = [sys.executable, "-m", "marrtino_facemask", "node", "--ros-args",
           "-p", f"detector:={args.detector}", "-p", "image_topic:=/camera/image_raw"]
    if args.model:
        cmd += ["-p", f"model_path:={os.path.abspath(args.model)}"]
    return subprocess.Popen(cmd, stdin=subprocess.DEVNULL)


def describe(msg):
    faces = []
    for det in msg.detections:
        best = det.results[0].hypothesis
        c, w, h = det.bbox.center.position, det.bbox.size_x, det.bbox.size_y
        faces.append(f"{best.class_id} {best.score:.2f} at "
                     f"[{c.x - w / 2:.0f},{c.y - h / 2:.0f},{c.x + w / 2:.0f},{c.y + h / 2:.0f}]")
    return f"{len(faces)} face(s)" + (": " + "; ".join(faces) if faces else "")


def run(args):
    import rclpy
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import Image
    from vision_msgs.msg import Detection2DArray

    from ..ros.ros_msgs import bgr_to_image_msg, image_msg_to_bgr

    frames = sample_stream(args.frames)
    os.makedirs(args.out, exist_ok=True)
    rclpy.init()
    node = rclpy.create_node("facemask_demo_camera")
    qos = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE)
    camera = node.create_publisher(Image, "/camera/image_raw", qos)
    sent, answers, annotated = {}, {}, {}
    node.create_subscription(Detection2DArray, "/facemask/detections",
                             lambda m: answers.setdefault(m.header.frame_id,
                                                          (m, time.monotonic())), 10)
    node.create_subscription(Image, "/facemask/image_annotated",
                             lambda m: annotated.setdefault(m.header.frame_id, m), qos)
    proc = start_node(args)
    try:
        deadline = time.monotonic() + args.startup_timeout
        print("demo: waiting for facemask_detector ...", flush=True)
        while (camera.get_subscription_count() == 0
               or not node.count_publishers("/facemask/detections")):
            rclpy.spin_once(node, timeout_sec=0.1)
            if proc.poll() is not None:
                print(f"demo: the node exited with code {proc.returncode}", file=sys.stderr)
                return 1
            if time.monotonic() > deadline:
                print("demo: the node did not start in time", file=sys.stderr)
                return 1
        # give the node's annotated-image publisher time to see our subscription
        end = time.monotonic() + 1.0
        while time.monotonic() < end:
            rclpy.spin_once(node, timeout_sec=0.05)
        period = 1.0 / args.fps
        start = time.monotonic()
        for i, frame in enumerate(frames):
            header_id = f"camera#{i:04d}"   # frame index in frame_id, to match answers
            msg = bgr_to_image_msg(frame)
            msg.header.frame_id = header_id
            msg.header.stamp = node.get_clock().now().to_msg()
            sent[header_id] = time.monotonic()
            camera.publish(msg)
            next_at = start + (i + 1) * period
            while time.monotonic() < next_at:
                rclpy.spin_once(node, timeout_sec=max(0.0, next_at - time.monotonic()))
        end = time.monotonic() + 3.0
        while time.monotonic() < end and len(answers) < len(frames):
            rclpy.spin_once(node, timeout_sec=0.05)
        elapsed = time.monotonic() - start
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        node.destroy_node()
        rclpy.try_shutdown()

    counts, latencies = Counter(), []
    for frame_id in sorted(answers):
        msg, received = answers[frame_id]
        latencies.append(received - sent[frame_id])
        counts.update(d.results[0].hypothesis.class_id for d in msg.detections)
        print(f"frame {frame_id.split('#')[1]}: {describe(msg)}")
    for frame_id, msg in annotated.items():
        cv2.imwrite(os.path.join(args.out, f"frame_{frame_id.split('#')[1]}.jpg"),
                    image_msg_to_bgr(msg))
    print(f"\npublished {len(frames)} frames at {args.fps:g} fps; the node answered "
          f"{len(answers)} ({len(answers) / elapsed:.1f} fps; frames that arrive while one is "
          f"processed are dropped), mean latency "
          f"{1000 * np.mean(latencies) if latencies else 0:.0f} ms")
    per_class = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
    print("faces per class: " + (per_class or "none"))
    print(f"annotated frames: {len(annotated)} in {os.path.abspath(args.out)}")
    return 0 if answers else 1


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        return run(args)
    except KeyboardInterrupt:
        print("demo: interrupted", file=sys.stderr)
        return 130
