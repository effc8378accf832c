"""Benchmark: time per 640x480 frame of the node's pipeline, by stage (not a test).

    ./scripts/env.sh python benchmarks/bench_pipeline.py [--model models/facemask_resnet18.pt]

Frames are skimage's astronaut (public domain) placed in a 640x480 frame: one face. Faces
per frame vary the classifier's batch. CenterFace runs on ONNX Runtime and on OpenCV's dnn. Prints median and 90th percentile milliseconds.
"""

import argparse
import os
import sys
import time

import cv2
import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from marrtino_facemask.annotate import annotate  # noqa: E402
from marrtino_facemask.checkpoint import default_model_path  # noqa: E402
from marrtino_facemask.classifier import MaskClassifier  # noqa: E402
from marrtino_facemask.faces import make_face_detector  # noqa: E402
from marrtino_facemask.image_codec import bgr_to_encoding, image_to_bgr  # noqa: E402
from marrtino_facemask.pipeline import FaceMaskPipeline  # noqa: E402
from marrtino_facemask.threads import apply_threads  # noqa: E402


def timed(fn, repeat):
    fn()  # warm-up
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        out.append(1000 * (time.perf_counter() - t))
    return np.median(out), np.percentile(out, 90)


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--model", default=default_model_path())
    p.add_argument("--repeat", type=int, default=30)
    p.add_argument("--threads", type=int, default=0,
                   help="torch and OpenCV threads, like the node's threads parameter "
                        "(0 = the libraries' defaults)")
    args = p.parse_args()
    apply_threads(args.threads)
    from skimage import data
    astro = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)
    frame = np.full((480, 640, 3), 40, np.uint8)
    frame[:, 80:560] = cv2.resize(astro, (480, 480), interpolation=cv2.INTER_AREA)
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


if __name__ == "__main__":
    main()
