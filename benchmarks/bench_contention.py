"""Benchmark: the node on a busy robot (not a test).

    ./scripts/env.sh python benchmarks/bench_contention.py [--threads 1,0] [--seconds 20]

For each ``threads`` value, and with and without a busy process: starts the node in its own
process (``python -m marrtino_facemask node``, shipped model, ``--detector``), optionally one
process that spins on one core (``while True: pass``, like navigation or a driver busy on a
core), and publishes 640x480 bgr8 frames at 30 frames/s over DDS from this process, as a
camera driver would (skimage's astronaut in the frame: one face). It reports, over
``--seconds`` after a warm-up: frames answered per second, the latency from publication to
answer (p50, p95), and the node's CPU use. threads 1 is the node's default; 0 is the old
behaviour (ONNX Runtime and OpenCV each use one thread per core).
"""

import argparse
import os
import subprocess
import sys
import time

import numpy as np
import rosbench
from frames import frame_one_face

from marrtino_facemask.faces import DEFAULT_DETECTOR


def run_case(ros, threads, busy, args, frame):
    from builtin_interfaces.msg import Time
    from sensor_msgs.msg import Image
    from vision_msgs.msg import Detection2DArray

    from marrtino_facemask.ros.ros_msgs import bgr_to_image_msg

    spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"])
                for _ in range(busy)]
    proc = rosbench.start_node([f"threads:={threads}", "publish_annotated:=false",
                                f"detector:={args.detector}"] + args.param, args.model)
    node, executor = ros
    pub = node.create_publisher(Image, rosbench.IMAGE_TOPIC, rosbench.reliable_qos(1))
    sent, answers = {}, {}

    def on_det(msg):
        answers.setdefault(msg.header.stamp.sec, time.monotonic())
    sub = node.create_subscription(Detection2DArray, rosbench.DETECTIONS_TOPIC, on_det,
                                   rosbench.reliable_qos(100))
    cpu_start = []
    total = args.warmup + args.seconds
    try:
        rosbench.wait_ready(node, executor, pub, proc)
        msg = bgr_to_image_msg(frame)
        msg.header.frame_id = "bench_camera"

        def before_publish(i, elapsed):
            if not cpu_start and elapsed >= args.warmup:
                cpu_start.extend((rosbench.cpu_seconds(proc.pid), time.monotonic()))
            msg.header.stamp = Time(sec=i, nanosec=0)
            sent[i] = time.monotonic()
        t_start = rosbench.publish_paced(executor, pub, msg, args.fps, total, before_publish)
        cpu_end = (rosbench.cpu_seconds(proc.pid), time.monotonic())
        rosbench.spin_for(executor, 1.0)          # answers still in flight
    finally:
        node.destroy_subscription(sub)
        node.destroy_publisher(pub)
        stderr = rosbench.stop_node(proc)
        for s in spinners:
            s.kill()
            s.wait()
    stats = [ln for ln in stderr.splitlines() if "processing mean" in ln]
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
    p.add_argument("--param", action="append", default=[], metavar="NAME:=VALUE",
                   help="another node parameter, e.g. detect_in_background:=false (repeatable)")
    p.add_argument("--verbose", action="store_true", help="print the node's last stats line")
    args = p.parse_args()

    frame = frame_one_face()
    print(f"cpu: {os.cpu_count()} cores, load average before {os.getloadavg()[0]:.2f}; "
          f"640x480 bgr8 at {args.fps:g} fps for {args.seconds:g} s after {args.warmup:g} s "
          f"warm-up; node {args.detector}{''.join(' -p ' + x for x in args.param)}",
          flush=True)
    print(f"{'threads':>7} {'busy':>4} {'sent/s':>7} {'answered/s':>10} {'p50 ms':>7} "
          f"{'p95 ms':>7} {'node cpu %':>10} {'load':>5}", flush=True)
    with rosbench.ros_node("bench_contention_camera") as ros:
        for threads in (int(t) for t in args.threads.split(",")):
            for busy in (int(b) for b in args.busy.split(",")):
                r = run_case(ros, threads, busy, args, frame)
                print(f"{threads:>7} {busy:>4} {r['sent']:7.1f} {r['answered']:10.1f} "
                      f"{r['p50']:7.0f} {r['p95']:7.0f} {r['cpu']:10.0f} "
                      f"{os.getloadavg()[0]:5.2f}", flush=True)
                if args.verbose:
                    print(f"        node: {r['stats']}", flush=True)


if __name__ == "__main__":
    main()
