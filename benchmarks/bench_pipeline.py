"""Benchmark: time per 640x480 frame of the node's pipeline, by stage (not a test).

    ./scripts/env.sh python benchmarks/bench_pipeline.py [--model FILE.onnx] [--threads 1]
        [--also-classifier models/facemask_resnet18.onnx] [--also-detector FILE.onnx]

Frames are skimage's astronaut (public domain) placed in a 640x480 frame: one face. Faces
per frame vary the classifier's batch. CenterFace runs its shipped files on ONNX Runtime: the
int8 one that the node runs (at 640, 480 and 320 px) and its float32 source; res10 and Haar
on OpenCV. The classifier is ``--model`` (default: the shipped int8 file) and each
``--also-classifier`` file (e.g. the float32 export of the checkpoint, to compare in the same
run). With OpenVINO installed, the node's two files also run on OpenVINO (the ``backend``
setting), and so does the whole frame. Prints median and 90th percentile milliseconds.

Then (or alone, with ``--default-only``) the default pipeline (config.build_pipeline, as the
node builds it) on 640x480 frames with 0, 1 and 3 faces (frames.py) and, when its venv is
present (scripts/setup_peer_venv.sh; --peer-venv), the PyPI package face_mask_detector 0.2.3
on the same frames in the same run, with our time as a ratio of its (peer.py). Last, the time
in which the node, at its defaults, answers each of those frames (the detector in its own
thread, the faces followed by optical flow and classified in turn; frames panning 4 px a
frame, fed at 30 frames/s: bench_detect_every.py's ``bg1`` timing), next to the peer's time
from the same run. That mode uses a second core for the detector. With OpenVINO installed,
the default pipeline with ``backend`` openvino is timed on the same frames too, against the
same peer times.
"""

import argparse
import importlib.util
import os
import sys

import cv2
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import peer  # noqa: E402  (benchmarks/, the script's own folder)
from bench_detect_every import timing as node_answer_timing  # noqa: E402
from frames import bench_frames, frame_one_face  # noqa: E402
from timing import timed  # noqa: E402

from marrtino_facemask.annotate import annotate  # noqa: E402
from marrtino_facemask.centerface import CenterFaceDetector  # noqa: E402
from marrtino_facemask.classifier import MaskClassifier  # noqa: E402
from marrtino_facemask.config import build_pipeline, settings  # noqa: E402
from marrtino_facemask.detectors import make_face_detector  # noqa: E402
from marrtino_facemask.exposure import brighten  # noqa: E402
from marrtino_facemask.faces import (  # noqa: E402
    CENTERFACE_ONNX,
    DEFAULT_FACE_CONFIDENCE,
    DEFAULT_LARGE_FACE_CONFIDENCE,
    DEFAULT_MIN_FACE_SIZE,
    default_face_model_dir,
)
from marrtino_facemask.image_codec import bgr_to_encoding, image_to_bgr  # noqa: E402
from marrtino_facemask.model_file import default_model_path  # noqa: E402
from marrtino_facemask.pipeline import FaceMaskPipeline  # noqa: E402
from marrtino_facemask.threads import apply_threads, describe_threads  # noqa: E402
from marrtino_facemask.tracking import DEFAULT_CLASSIFY_BUDGET  # noqa: E402

HAVE_OPENVINO = importlib.util.find_spec("openvino") is not None


def centerface_file(path, input_size=640, backend="onnxruntime"):
    """CenterFace of that file, run as it is, with the node's default thresholds."""
    return CenterFaceDetector(DEFAULT_FACE_CONFIDENCE, DEFAULT_MIN_FACE_SIZE, path, input_size,
                              backend, DEFAULT_LARGE_FACE_CONFIDENCE)


def detectors(also):
    """[(name, function making the detector)]; the first is the node's default."""
    fp32 = os.path.join(default_face_model_dir(), CENTERFACE_ONNX)
    out = [("centerface@640 int8", lambda: make_face_detector("centerface")),
           ("centerface@640 float32", lambda: centerface_file(fp32)),
           ("centerface@480 int8", lambda: make_face_detector("centerface", input_size=480)),
           ("centerface@320 int8", lambda: make_face_detector("centerface", input_size=320)),
           ("dnn", lambda: make_face_detector("dnn")),
           ("haar", lambda: make_face_detector("haar"))]
    if HAVE_OPENVINO:   # the optional backend:=openvino, same file
        out.insert(1, ("centerface@640 int8 openvino",
                       lambda: make_face_detector("centerface", backend="openvino")))
    out += [(f"centerface@640 {os.path.basename(path)}", lambda path=path: centerface_file(path))
            for path in also]
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=default_model_path(),
                   help="the classifier's ONNX file (default: the shipped int8 one)")
    p.add_argument("--repeat", type=int, default=30)
    p.add_argument("--threads", type=int, default=0,
                   help="ONNX Runtime, OpenVINO and OpenCV threads, like the node's threads "
                        "parameter (0 = the libraries' defaults)")
    p.add_argument("--also-classifier", action="append", default=[], metavar="ONNX",
                   help="another classifier ONNX file to time on ONNX Runtime, as it is "
                        "(repeatable); e.g. the float32 export of the checkpoint")
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
    for path in args.also_classifier + args.also_detector:
        if not os.path.isfile(path):
            p.error(f"{path}: no such file")
    frame = frame_one_face()
    model = os.path.basename(args.model)
    classifiers = {f"{model} onnxruntime": MaskClassifier(args.model)}
    if HAVE_OPENVINO:
        classifiers[f"{model} openvino"] = MaskClassifier(args.model, "openvino")
    others = [f"{os.path.basename(path)} onnxruntime" for path in args.also_classifier]
    classifiers.update((name, MaskClassifier(path))
                       for name, path in zip(others, args.also_classifier))
    names = list(classifiers)
    classifier = classifiers[names[0]]
    versions = {m: sys.modules[m].__version__ for m in ("onnxruntime",) if m in sys.modules}
    if HAVE_OPENVINO:
        import openvino
        versions["openvino"] = openvino.__version__.split("-")[0]
    print(f"cpu: {os.cpu_count()} cores, threads {args.threads} ({describe_threads()}), model "
          f"input {classifier.input_size}px, opencv {cv2.__version__}, "
          + ", ".join(f"{m} {v}" for m, v in versions.items()))
    rows = []
    dets = detectors(args.also_detector)
    step, raw = bgr_to_encoding(frame, "rgb8")
    rows.append(("decode rgb8 640x480 -> bgr",
                 timed(lambda: image_to_bgr(480, 640, "rgb8", step, raw), args.repeat)))
    for name, make in dets:
        det = make()
        faces = det.detect(frame)
        rows.append((f"face detector {name} ({len(faces)} face)",
                     timed(lambda: det.detect(frame), args.repeat)))
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
    # every detector with the first classifier; the default detector with each classifier;
    # the float32 detector with each other classifier; OpenVINO for both
    by_name = dict(dets)
    pairs = [(d, names[0]) for d in by_name] + [(dets[0][0], n) for n in names[1:]]
    pairs += [("centerface@640 float32", n) for n in others]
    if HAVE_OPENVINO:
        pairs.append(("centerface@640 int8 openvino", f"{model} openvino"))
    for dname, cname in pairs:
        pipe = FaceMaskPipeline(by_name[dname](), classifiers[cname])
        med, p90 = timed(lambda: pipe(frame), args.repeat)
        rows.append((f"whole frame, {dname} + classifier {cname}", (med, p90)))
    width = max(len(name) for name, _ in rows)
    print(f"{'stage':<{width}} {'median ms':>10} {'p90 ms':>8} {'per s':>8}")
    for name, (med, p90) in rows:
        print(f"{name:<{width}} {med:10.2f} {p90:8.2f} {1000 / med:8.1f}")
    compare_with_peer(args)


def compare_with_peer(args):
    """The default pipeline (as the node runs it) on the 0/1/3-face frames, then the peer."""
    frames = bench_frames()
    pipe = build_pipeline(settings(model_path=args.model))
    ours = time_pipeline(pipe, frames, "default pipeline", args.repeat)
    openvino = {}
    if HAVE_OPENVINO:
        title = "backend openvino"
        openvino[title] = time_pipeline(
            build_pipeline(settings(model_path=args.model, backend="openvino")), frames,
            f"default pipeline, {title}", args.repeat)
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
