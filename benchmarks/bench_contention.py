"""Benchmark: the node on a busy robot (not a test).

    ./scripts/env.sh python benchmarks/bench_contention.py [--threads 1,0] [--seconds 20]

For each ``threads`` value, and with and without a busy process: starts the node in its own
process (``python -m marrtino_facemask node``, shipped model, ``--detector``), optionally one
process that spins on one core (``while True: pass``, like navigation or a driver busy on a
core), and publishes 640x480 bgr8 frames at 30 frames/s over DDS from this process, as a
camera driver would (skimage's astronaut in the frame: one face). It reports, over
``--seconds`` after a warm-up: frames answered per second, the latency from publication to
answer (p50, p95), and the node's CPU use. threads 1 is the node's default; 0 is the old
behaviour (torch and OpenCV each use one thread per core).
"""

import argparse
import os
import random
import subprocess
import sys
import time

import cv2
import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
from marrtino_facemask.faces import DEFAULT_DETECTOR  # noqa: E402
os.environ.setdefault("ROS_DOMAIN_ID", str(random.SystemRandom().randint(1, 101)))
os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")


def frame_640x480():
    from skimage import data
    astro = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)
    frame = np.full((480, 640, 3), 40, np.uint8)
    frame[:, 80:560] = cv2.resize(astro, (480, 480), interpolation=cv2.INTER_AREA)
    return frame


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_case(ros, threads, busy, args, frame):
    from builtin_interfaces.msg import Time
    from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import Image
    from vision_msgs.msg import Detection2DArray

    from marrtino_facemask.ros_msgs import bgr_to_image_msg

    node_args = [sys.executable, "-m", "marrtino_facemask", "node", "--ros-args",
                 "-p", f"threads:={threads}", "-p", "publish_annotated:=false",
                 "-p", f"detector:={args.detector}"]
    if args.model:
        node_args += ["-p", f"model_path:={args.model}"]
    spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"])
                for _ in range(busy)]
    proc = subprocess.Popen(node_args, cwd=REPO, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    node, executor = ros
    qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1,
                     reliability=ReliabilityPolicy.RELIABLE)
    pub = node.create_publisher(Image, "/camera/image_raw", qos)
    sent, answers = {}, {}

    def on_det(msg):
        answers.setdefault(msg.header.stamp.sec, time.monotonic())
    sub = node.create_subscription(Detection2DArray, "/facemask/detections", on_det,
                                   QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=100,
                                              reliability=ReliabilityPolicy.RELIABLE))
    try:
        deadline = time.monotonic() + 120
        while pub.get_subscription_count() == 0 or node.count_publishers(
                "/facemask/detections") == 0:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"node did not start: {proc.stderr.read()[-2000:]}")
            executor.spin_once(timeout_sec=0.05)
        msg = bgr_to_image_msg(frame)
        msg.header.frame_id = "bench_camera"
        period = 1.0 / args.fps
        total = args.warmup + args.seconds
        t_start = time.monotonic()
        cpu_start = None
        i = 0
        while True:
            now = time.monotonic()
            if now - t_start >= total:
                break
            if cpu_start is None and now - t_start >= args.warmup:
                cpu_start = (cpu_seconds(proc.pid), now)
            i += 1
            msg.header.stamp = Time(sec=i, nanosec=0)
            sent[i] = time.monotonic()
            pub.publish(msg)
            next_t = t_start + i * period
            while True:
                left = next_t - time.monotonic()
                if left <= 0:
                    break
                executor.spin_once(timeout_sec=left)
        cpu_end = (cpu_seconds(proc.pid), time.monotonic())
        end_wait = time.monotonic() + 1.0          # answers still in flight
        while time.monotonic() < end_wait:
            executor.spin_once(timeout_sec=0.05)
    finally:
        node.destroy_subscription(sub)
        node.destroy_publisher(pub)
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        for s in spinners:
            s.kill()
            s.wait()
    stats = [ln for ln in proc.stderr.read().splitlines() if "processing mean" in ln]
    window = [k for k, t in sent.items() if args.warmup <= t - t_start < total]
    lat = np.array([answers[k] - sent[k] for k in window if k in answers]) * 1000
    cpu = 100 * (cpu_end[0] - cpu_start[0]) / (cpu_end[1] - cpu_start[1])
    return {"sent": len(window) / args.seconds, "answered": len(lat) / args.seconds,
            "p50": float(np.percentile(lat, 50)) if len(lat) else float("nan"),
            "p95": float(np.percentile(lat, 95)) if len(lat) else float("nan"),
            "cpu": cpu, "stats": stats[-1].split("]: ", 1)[-1] if stats else ""}


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", default="1,0", help="comma-separated threads values")
    p.add_argument("--busy", default="0,1", help="comma-separated numbers of busy processes")
    p.add_argument("--seconds", type=float, default=20.0, help="measured seconds per case")
    p.add_argument("--warmup", type=float, default=5.0)
    p.add_argument("--fps", type=float, default=30.0)
    p.add_argument("--model", default="", help="checkpoint (default: the shipped model)")
    p.add_argument("--detector", default=DEFAULT_DETECTOR,
                   help=f"the node's face detector (default: {DEFAULT_DETECTOR}, the node's)")
    p.add_argument("--verbose", action="store_true", help="print the node's last stats line")
    args = p.parse_args()

    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    rclpy.init()
    node = rclpy.create_node("bench_contention_camera")
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    frame = frame_640x480()
    print(f"cpu: {os.cpu_count()} cores, load average before {os.getloadavg()[0]:.2f}; "
          f"640x480 bgr8 at {args.fps:g} fps for {args.seconds:g} s after {args.warmup:g} s "
          "warm-up", flush=True)
    print(f"{'threads':>7} {'busy':>4} {'sent/s':>7} {'answered/s':>10} {'p50 ms':>7} "
          f"{'p95 ms':>7} {'node cpu %':>10} {'load':>5}", flush=True)
    try:
        for threads in (int(t) for t in args.threads.split(",")):
            for busy in (int(b) for b in args.busy.split(",")):
                r = run_case((node, executor), threads, busy, args, frame)
                print(f"{threads:>7} {busy:>4} {r['sent']:7.1f} {r['answered']:10.1f} "
                      f"{r['p50']:7.0f} {r['p95']:7.0f} {r['cpu']:10.0f} "
                      f"{os.getloadavg()[0]:5.2f}", flush=True)
                if args.verbose:
                    print(f"        node: {r['stats']}", flush=True)
    finally:
        executor.shutdown()
        node.destroy_node()
        rclpy.shutdown()


if __name__ == "__main__":
    main()
