"""Benchmark: the real node under a 30 frames/s camera (not a test).

    ./scripts/env.sh python benchmarks/bench_node.py [--seconds 60] [--faces 1]
        [--param backend:=openvino]

Starts the node in its own process (``python -m marrtino_facemask node``, its defaults, the
shipped model), and publishes 640x480 bgr8 frames (benchmarks/frames.py: 0, 1 or 3 faces) on
/camera/image_raw at ``--fps`` for ``--seconds`` over DDS from this process, as a camera driver
would, each stamped with the time of publication. It reports:

- frames sent and answered per second (the node drops frames it has no time for, by design);
- the latency from a frame's header stamp to the arrival of its Detection2DArray here
  (p50, p95, max), over every answered frame;
- the node's resident memory (VmRSS): when it is ready (before the first frame), after its
  1000th answer, and at the end; and its peak (VmHWM) at the end;
- the node's CPU use over the run.

``--pan PX`` moves the picture PX px a frame, left for a second then right for a second, as a
turning robot sees it (a still frame otherwise); useful with ``--param detect_every:=N``,
whose optical flow then has motion to follow.
"""

import argparse
import os
import sys
import time

import cv2
import numpy as np
import rosbench
from frames import bench_frames


def run(args):
    from sensor_msgs.msg import Image
    from vision_msgs.msg import Detection2DArray

    from marrtino_facemask.ros.ros_msgs import bgr_to_image_msg

    frame = bench_frames()[args.faces]
    # one to-and-fro second of panning (a still frame without --pan), as raw bgr8 bytes
    offsets = [args.pan * (k if k <= args.fps else 2 * args.fps - k)
               for k in range(int(2 * args.fps))] if args.pan else [0]
    datas = [cv2.warpAffine(frame, np.float32([[1, 0, dx], [0, 1, 0]]),
                            (frame.shape[1], frame.shape[0])).tobytes() for dx in offsets]
    with rosbench.ros_node("bench_node_camera") as (node, executor):
        clock = node.get_clock()
        proc = rosbench.start_node(args.param, args.model)
        pub = node.create_publisher(Image, rosbench.IMAGE_TOPIC, rosbench.reliable_qos(1))
        latencies, faces, rss = [], [], {}

        def on_detections(msg):
            now = clock.now().nanoseconds
            stamp = msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec
            latencies.append((now - stamp) / 1e6)
            faces.append(len(msg.detections))
            if len(latencies) == args.rss_after:
                rss["after"] = rosbench.memory_mb(proc.pid)

        node.create_subscription(Detection2DArray, rosbench.DETECTIONS_TOPIC, on_detections,
                                 rosbench.reliable_qos(100))
        try:
            rosbench.wait_ready(node, executor, pub, proc)
            rss["start"] = rosbench.memory_mb(proc.pid)
            msg = bgr_to_image_msg(frame)
            msg.header.frame_id = "bench_camera"
            sent = []

            def stamp(i, elapsed):
                if len(datas) > 1:
                    msg.data = datas[i % len(datas)]
                msg.header.stamp = clock.now().to_msg()
                sent.append(elapsed)

            cpu0 = rosbench.cpu_seconds(proc.pid)
            t_start = rosbench.publish_paced(executor, pub, msg, args.fps, args.seconds, stamp)
            duration = time.monotonic() - t_start
            cpu = 100 * (rosbench.cpu_seconds(proc.pid) - cpu0) / duration
            rosbench.spin_for(executor, 1.0)                # answers still in flight
            rss["end"] = rosbench.memory_mb(proc.pid)
            rss["peak"] = rosbench.memory_mb(proc.pid, "VmHWM")
        finally:
            stderr = rosbench.stop_node(proc)
    ready = next((ln.split("]: ", 1)[-1] for ln in stderr.splitlines() if "ready:" in ln), "")
    return {"sent": len(sent), "answered": len(latencies), "duration": duration,
            "latency": np.array(latencies), "faces": faces, "rss": rss, "cpu": cpu,
            "ready": ready}


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, default=60.0, help="how long the camera publishes")
    p.add_argument("--fps", type=float, default=30.0)
    p.add_argument("--faces", type=int, default=1, choices=(0, 1, 3),
                   help="faces in the frame (benchmarks/frames.py)")
    p.add_argument("--pan", type=float, default=0.0,
                   help="move the picture this many px a frame, to and fro (0: still)")
    p.add_argument("--model", default="", help="model_path (default: the node's)")
    p.add_argument("--param", action="append", default=[], metavar="NAME:=VALUE",
                   help="a node parameter, e.g. threads:=2 (repeatable)")
    p.add_argument("--rss-after", type=int, default=1000,
                   help="also read the node's RSS after this many answers")
    args = p.parse_args()
    load = os.getloadavg()[0]
    r = run(args)
    lat = r["latency"]
    print(f"cpu: {os.cpu_count()} cores, load average before {load:.2f}; node "
          f"{' '.join('-p ' + x for x in args.param) or 'defaults'}"
          + (f"; picture panning {args.pan:g} px a frame" if args.pan else ""))
    print(f"node: {r['ready']}")
    print(f"640x480 bgr8, {args.faces} face(s), {args.fps:g} fps for {r['duration']:.1f} s: "
          f"sent {r['sent'] / r['duration']:.1f}/s, answered "
          f"{r['answered'] / r['duration']:.1f}/s "
          f"({r['answered']} of {r['sent']}), faces per answer "
          f"{np.mean(r['faces']) if r['faces'] else float('nan'):.2f}")
    if len(lat):
        print(f"latency header stamp -> answer: p50 {np.percentile(lat, 50):.1f} ms, "
              f"p95 {np.percentile(lat, 95):.1f} ms, max {lat.max():.1f} ms")
    after = (f"{r['rss']['after']:.0f} MB" if "after" in r["rss"]
             else f"n/a (only {r['answered']} answers)")
    print(f"node RSS: {r['rss']['start']:.0f} MB ready, {after} after {args.rss_after} answers, "
          f"{r['rss']['end']:.0f} MB at the end (peak {r['rss']['peak']:.0f} MB); "
          f"node CPU {r['cpu']:.0f} %")
    return 0 if r["answered"] else 1


if __name__ == "__main__":
    sys.exit(main())
