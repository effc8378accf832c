"""Benchmark: time per 640x480 frame of the node's pipeline, by stage (not a test).

    ./scripts/env.sh python benchmarks/bench_pipeline.py [--model models/facemask_resnet18.pt]
        [--threads 1] [--classifiers onnxruntime-int8,onnxruntime-float32,torch-float32]

Frames are skimage's astronaut (public domain) placed in a 640x480 frame: one face. Faces
per frame vary the classifier's batch. CenterFace runs on ONNX Runtime (int8 and float32) and
on OpenCV's dnn; the classifier on each backend and precision of ``--classifiers`` (ONNX
Runtime float32 needs the checkpoint's .onnx: exported to a temporary folder when it is not
beside it; torch rows need torch). With OpenVINO installed, both also run on OpenVINO (int8),
and so does the whole frame. Prints median and 90th percentile milliseconds.

Then (or alone, with ``--default-only``) the default pipeline on 640x480 frames with 0, 1 and
3 faces (frames.py) and, when its venv is present (scripts/setup_peer_venv.sh; --peer-venv), the PyPI package
face_mask_detector 0.2.3 on the same frames in the same run, with our time as a ratio of its
(peer.py). Last, the time in which the node, at its defaults, answers each of those frames
(the detector in its own thread, the faces followed by optical flow and classified in turn;
frames panning 4 px a frame, fed at 30 frames/s: bench_detect_every.py's ``bg1`` timing),
next to the peer's time from the same run. That mode uses a second core for the detector.
With OpenVINO installed, the default pipeline with ``detector_backend`` openvino, and with
both ``detector_backend`` and ``backend`` openvino, is timed on the same frames too, against
the same peer times.
"""

import argparse
import importlib.util
import os
import sys
import tempfile

import cv2
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import peer  # noqa: E402  (benchmarks/, the script's own folder)
from bench_detect_every import timing as node_answer_timing  # noqa: E402
from frames import bench_frames, frame_one_face  # noqa: E402
from timing import timed  # noqa: E402
from marrtino_facemask.annotate import annotate  # noqa: E402
from marrtino_facemask.checkpoint import default_model_path  # noqa: E402
from marrtino_facemask.classifier import MaskClassifier, onnx_path_for  # noqa: E402
from marrtino_facemask.exposure import brighten  # noqa: E402
from marrtino_facemask.faces import (DEFAULT_FACE_CONFIDENCE,  # noqa: E402
                                     DEFAULT_LARGE_FACE_CONFIDENCE, DEFAULT_MIN_FACE_SIZE,
                                     CenterFaceDetector, make_face_detector)
from marrtino_facemask.image_codec import bgr_to_encoding, image_to_bgr  # noqa: E402
from marrtino_facemask.pipeline import FaceMaskPipeline  # noqa: E402
from marrtino_facemask.threads import apply_threads, describe_threads  # noqa: E402
from marrtino_facemask.tracking import DEFAULT_CLASSIFY_BUDGET  # noqa: E402

# (backend, precision) of the classifier by name; the first is the node's default
CLASSIFIERS = {"onnxruntime-int8": ("onnxruntime", "int8"),
               "onnxruntime-float32": ("onnxruntime", "float32"),
               "torch-float32": ("torch", "float32")}
# (name, detector, input size, backend, precision); the first is the node's default
DETECTORS = [("centerface@640 onnxruntime int8", "centerface", 640, "onnxruntime", "int8"),
             ("centerface@640 onnxruntime float32", "centerface", 640, "onnxruntime", "float32"),
             ("centerface@640 opencv", "centerface", 640, "opencv", "float32"),
             ("centerface@480 onnxruntime int8", "centerface", 480, "onnxruntime", "int8"),
             ("centerface@320 onnxruntime int8", "centerface", 320, "onnxruntime", "int8"),
             ("dnn", "dnn", 0, "auto", "float32"), ("haar", "haar", 0, "auto", "float32")]
HAVE_OPENVINO = importlib.util.find_spec("openvino") is not None
OPENVINO_DETECTOR = "centerface@640 openvino int8"
if HAVE_OPENVINO:   # the optional detector_backend:=openvino and backend:=openvino, same files
    DETECTORS.insert(1, (OPENVINO_DETECTOR, "centerface", 640, "openvino", "int8"))
    CLASSIFIERS["openvino-int8"] = ("openvino", "int8")


def load_classifier(model, backend, precision, tmp):
    """The classifier on ``backend``; float32 ONNX Runtime exports the .pt when its .onnx is
    not beside it (needs torch)."""
    if backend == "onnxruntime" and precision == "float32" and not model.endswith(".onnx") \
            and not os.path.isfile(onnx_path_for(model)):
        from marrtino_facemask.export import export_onnx
        _, written = export_onnx(model, os.path.join(tmp, "model.onnx"))
        model = os.path.join(tmp, "model.onnx")
        os.replace(written, model)
    return MaskClassifier(model, "cpu", backend, precision)


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--model", default=default_model_path())
    p.add_argument("--repeat", type=int, default=30)
    p.add_argument("--threads", type=int, default=0,
                   help="ONNX Runtime, OpenCV and torch threads, like the node's threads "
                        "parameter (0 = the libraries' defaults)")
    p.add_argument("--classifiers", default=",".join(CLASSIFIERS),
                   help=f"comma-separated, of {', '.join(CLASSIFIERS)}; the first one runs in "
                        "the whole-frame rows of every detector")
    p.add_argument("--also-detector", action="append", default=[], metavar="ONNX",
                   help="another CenterFace ONNX file to time at 640 on ONNX Runtime, as it is, "
                        "in the detector and whole-frame rows (repeatable); e.g. the previous "
                        "release's int8 file from git, to compare in the same run")
    p.add_argument("--default-only", action="store_true",
                   help="time only the default pipeline on the 0/1/3-face frames (and the peer); "
                        "needs only the default models")
    peer.add_arguments(p)
    args = p.parse_args()
    apply_threads(args.threads)
    if args.default_only:
        print(f"cpu: {os.cpu_count()} cores, threads {args.threads} ({describe_threads()}), "
              f"opencv {cv2.__version__}")
        compare_with_peer(args)
        return
    names = [c.strip() for c in args.classifiers.split(",") if c.strip()]
    unknown = [n for n in names if n not in CLASSIFIERS]
    if unknown or not names:
        p.error(f"unknown --classifiers {unknown}: use {', '.join(CLASSIFIERS)}")
    frame = frame_one_face()
    tmp = tempfile.TemporaryDirectory(prefix="bench_pipeline_")
    classifiers = {n: load_classifier(args.model, *CLASSIFIERS[n], tmp.name) for n in names}
    classifier = classifiers[names[0]]
    versions = {m: sys.modules[m].__version__ for m in ("onnxruntime", "torch") if m in sys.modules}
    if HAVE_OPENVINO:
        import openvino
        versions["openvino"] = openvino.__version__.split("-")[0]
    print(f"cpu: {os.cpu_count()} cores, threads {args.threads} ({describe_threads()}), model "
          f"input {classifier.input_size}px, opencv {cv2.__version__}, "
          + ", ".join(f"{m} {v}" for m, v in versions.items()))
    rows = []
    detectors = [(name, lambda kind=kind, size=size, backend=backend, precision=precision:
                  make_face_detector(kind, input_size=size or 640, backend=backend,
                                     precision=precision))
                 for name, kind, size, backend, precision in DETECTORS]
    for path in args.also_detector:
        if not os.path.isfile(path):
            p.error(f"--also-detector {path}: no such file")
        # precision float32: run the file itself, not an int8 copy beside it
        detectors.append((f"centerface@640 onnxruntime {os.path.basename(path)}",
                          lambda path=path: CenterFaceDetector(
                              DEFAULT_FACE_CONFIDENCE, DEFAULT_MIN_FACE_SIZE, path, 640,
                              "onnxruntime", "float32", DEFAULT_LARGE_FACE_CONFIDENCE)))
    step, raw = bgr_to_encoding(frame, "rgb8")
    rows.append(("decode rgb8 640x480 -> bgr", timed(lambda: image_to_bgr(480, 640, "rgb8", step, raw),
                                                    args.repeat)))
    for name, make in detectors:
        det = make()
        faces = det.detect(frame)
        rows.append((f"face detector {name} ({len(faces)} face)", timed(lambda: det.detect(frame),
                                                                        args.repeat)))
    box = make_face_detector("dnn").detect(frame)[0].box
    for cname, clf in classifiers.items():
        for n in (1, 4, 8):
            crops = [clf.crop(frame, box)] * n
            rows.append((f"classifier {cname}, batch of {n} face(s)",
                         timed(lambda: clf.predict(crops), args.repeat)))
    results = FaceMaskPipeline(make_face_detector("dnn"), classifier)(frame)
    rows.append(("annotate", timed(lambda: annotate(frame, results), args.repeat)))
    dim = (frame * 0.25).astype(np.uint8)                 # a quarter of the light
    rows.append(("dim-frame check (min_white_level), a well-lit frame",
                 timed(lambda: brighten(frame), args.repeat)))
    rows.append(("dim-frame check and brightening, a quarter of the light",
                 timed(lambda: brighten(dim), args.repeat)))
    # every detector with the first classifier; the default detector with each classifier
    pairs = [(d, names[0]) for d in detectors] + [(detectors[0], n) for n in names[1:]]
    float32 = next(d for d in detectors if d[0] == "centerface@640 onnxruntime float32")
    pairs += [(float32, n) for n in names if CLASSIFIERS[n][1] == "float32"]
    if HAVE_OPENVINO and "openvino-int8" in names:   # OpenVINO for both
        pairs.append((next(d for d in detectors if d[0] == OPENVINO_DETECTOR), "openvino-int8"))
    for (name, make), cname in pairs:
        pipe = FaceMaskPipeline(make(), classifiers[cname])
        med, p90 = timed(lambda: pipe(frame), args.repeat)
        rows.append((f"whole frame, {name} + classifier {cname}", (med, p90)))
    width = max(len(name) for name, _ in rows)
    print(f"{'stage':<{width}} {'median ms':>10} {'p90 ms':>8} {'per s':>8}")
    for name, (med, p90) in rows:
        print(f"{name:<{width}} {med:10.2f} {p90:8.2f} {1000 / med:8.1f}")
    tmp.cleanup()
    compare_with_peer(args)


def compare_with_peer(args):
    """The default pipeline (as the node runs it) on the 0/1/3-face frames, then the peer."""
    frames = bench_frames()
    pipe = FaceMaskPipeline.create(args.model)
    ours = time_pipeline(pipe, frames, "default pipeline", args.repeat)
    openvino = {}
    if HAVE_OPENVINO:
        for title, backends in (("detector_backend openvino", {"detector_backend": "openvino"}),
                                ("detector_backend and backend openvino",
                                 {"detector_backend": "openvino", "backend": "openvino"})):
            openvino[title] = time_pipeline(FaceMaskPipeline.create(args.model, **backends),
                                            frames, f"default pipeline, {title}", args.repeat)
    theirs = peer.report(ours, frames, args.peer_venv, args.repeat, args.threads)
    for title, times in openvino.items() if theirs else ():
        print(f"\n{title + ', 640x480 frame':<54} {'ms':>8} {'peer ms':>9} {'peer/ours':>10}")
        for n in sorted(times):
            print(f"{f'{n} face(s)':<54} {times[n][0]:8.1f} {theirs[n][0]:9.1f} "
                  f"{theirs[n][0] / times[n][0]:9.1f}x")
    print(f"\n{'node default, answer to a frame at 30 frames/s':<48} {'median ms':>10} "
          f"{'mean ms':>8} {'peer ms':>8} {'peer/ours':>10}")
    for n, frame in frames.items():
        med, mean = node_answer_timing(pipe, frame, "bg1", 30.0, budget=DEFAULT_CLASSIFY_BUDGET)
        ratio = f"{theirs[n][0] / mean:9.1f}x" if theirs else f"{'-':>10}"
        peer_ms = f"{theirs[n][0]:8.1f}" if theirs else f"{'-':>8}"
        print(f"{f'{n} face(s) (mean against the peer median)':<48} {med:10.2f} {mean:8.2f} "
              f"{peer_ms} {ratio}")


def time_pipeline(pipe, frames, title, repeat):
    """{faces: (median ms, p90 ms, faces found)} of ``pipe`` on each frame, printed."""
    ours = {}
    width = max(44, len(title) + 15)
    print(f"\n{title + ', 640x480 frame':<{width}} {'median ms':>10} {'p90 ms':>8} {'faces':>8}")
    for n, frame in frames.items():
        found = len(pipe(frame))
        med, p90 = timed(lambda: pipe(frame), repeat)
        ours[n] = (med, p90, found)
        print(f"{f'{n} face(s)':<{width}} {med:10.2f} {p90:8.2f} {found:8d}")
    return ours


if __name__ == "__main__":
    main()
