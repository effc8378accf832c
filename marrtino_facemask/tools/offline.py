"""Offline use: ``detect`` faces in images, folders and videos; ``classify`` face crops.

Both write one JSON line per image (or video frame)::

    {"image": path, "width": W, "height": H,
     "detections": [{"bbox": [x_min, y_min, x_max, y_max], "label": L, "score": S,
                     "face_score": F, "scores": {label: p, ...}}]}

Video frames also carry ``"frame": index``. A file that cannot be read gets a line with
``"error"`` and the run goes on; the exit code is 1 when any file failed, else 0.

On a terminal a progress bar counts the frames. At the end one line on stderr sums up the
run: images and video frames read, files that failed, faces per class, time per frame.
"""

import argparse
import json
import os
import sys

import cv2

from ..annotate import annotate
from ..classifier import MaskClassifier
from ..config import (
    PIPELINE_SETTINGS,
    OneLineParser,
    add_arguments,
    build_pipeline,
    from_arguments,
)
from ..crops import whole_box
from ..faces import FaceModelError
from ..model_file import ModelError, default_model_path
from ..paths import IMAGE_EXTENSIONS
from ..pipeline import results_from_probs
from .run_summary import RunSummary, estimated_frames, progress_bar, warn

# classify takes the classifier's settings only
CLASSIFIER_SETTINGS = ("model_path", "backend")
VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg")


def expand_inputs(paths):
    """Files in the order given; folders are walked recursively for images and videos. A
    folder with none stays in the list, so that it fails like a missing file (a mistyped
    folder is not a successful run).
    """
    out = []
    for path in paths:
        if os.path.isdir(path):
            found = sorted(os.path.join(dirpath, f) for dirpath, _, files in os.walk(path)
                           for f in files
                           if f.lower().endswith(IMAGE_EXTENSIONS + VIDEO_EXTENSIONS))
            out.extend(found or [path])
        else:
            out.append(path)
    seen, unique = set(), []
    for p in out:
        if p not in seen:
            seen.add(p)
            unique.append(p)
    return unique


def iter_frames(path, every=1):
    """(frame index or None, BGR image) pairs of an image or video file; raises OSError."""
    if is_video(path):
        cap = cv2.VideoCapture(path)
        if not cap.isOpened():
            raise OSError(f"cannot open video {path}")
        index = 0
        try:
            while True:
                ok, frame = cap.read()
                if not ok:
                    break
                if index % every == 0:
                    yield index, frame
                index += 1
        finally:
            cap.release()
        if index == 0:
            raise OSError(f"no frames could be decoded from {path}")
        return
    if os.path.isdir(path):
        raise OSError(f"no images or videos in folder {path} (looked for "
                      f"{' '.join(IMAGE_EXTENSIONS + VIDEO_EXTENSIONS)})")
    if not os.path.isfile(path):
        raise OSError(f"no such file: {path}")
    image = cv2.imread(path, cv2.IMREAD_COLOR)
    if image is None:
        raise OSError(f"cannot decode image {path}")
    yield None, image


def record(path, frame_index, image, results):
    line = {"image": path, "width": int(image.shape[1]), "height": int(image.shape[0])}
    if frame_index is not None:
        line["frame"] = frame_index
    line["detections"] = [r.to_json() for r in results]
    return line


def annotated_name(path, frame_index):
    """A flat file name made of the whole input path, so that a/x.jpg, b/x.jpg and x.png differ."""
    flat = os.path.normpath(path).strip(os.sep).replace(os.sep, "__").replace(".", "_")
    return f"{flat}.jpg" if frame_index is None else f"{flat}_f{frame_index:06d}.jpg"


def common_args(p, settings):
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("--jsonl", required=True, help="output file, one JSON line per image/frame "
                                                  "('-' for standard output)")
    add_arguments(p, settings)


def is_video(path):
    return path.lower().endswith(VIDEO_EXTENSIONS)


def run(paths, jsonl, process, annotate_dir=None, every=1):
    """Process every frame of ``paths``; returns the number of files that failed."""
    out = sys.stdout if jsonl == "-" else open(jsonl, "w")
    summary = RunSummary()
    try:
        files = expand_inputs(paths)
        with progress_bar(estimated_frames(files, is_video, every)) as bar:
            for path in files:
                summary.add_file()
                try:
                    for index, image in iter_frames(path, every):
                        results = process(image)
                        out.write(json.dumps(record(path, index, image, results)) + "\n")
                        if annotate_dir:
                            target = os.path.join(annotate_dir, annotated_name(path, index))
                            if not cv2.imwrite(target, annotate(image, results)):
                                warn(f"cannot write {target}")
                        summary.add_frame(index, results)
                        bar.update()
                except OSError as exc:
                    if not is_video(path):
                        bar.update()      # the one frame it was counted for
                    summary.add_failure()
                    out.write(json.dumps({"image": path, "error": str(exc)}) + "\n")
                    warn(exc)
                out.flush()
    finally:
        if out is not sys.stdout:
            out.close()
    print(summary.finish().line(), file=sys.stderr)
    return summary.failed


def main_detect(argv=None):
    p = OneLineParser(prog="python -m marrtino_facemask detect",
                                description="Find and classify faces. " + __doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    common_args(p, PIPELINE_SETTINGS)
    p.add_argument("--annotate", metavar="DIR", help="also write annotated images here")
    p.add_argument("--every", type=int, default=1, help="videos: use every N-th frame")
    args = p.parse_args(sys.argv[1:] if argv is None else argv)
    if args.annotate and os.path.exists(args.annotate) and not os.path.isdir(args.annotate):
        print(f"error: --annotate needs a folder, and {args.annotate} is a file: give a "
              "folder (it is created if missing)", file=sys.stderr)
        return 2
    try:
        pipeline = build_pipeline(from_arguments(args))
        if args.annotate:
            os.makedirs(args.annotate, exist_ok=True)
        failed = run(args.paths, args.jsonl, pipeline, args.annotate, max(args.every, 1))
    except (ModelError, FaceModelError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 1 if failed else 0


def main_classify(argv=None):
    p = OneLineParser(prog="python -m marrtino_facemask classify",
                                description="Classify images that are each one face crop. "
                                            + __doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    common_args(p, CLASSIFIER_SETTINGS)
    args = p.parse_args(sys.argv[1:] if argv is None else argv)

    def process(image):
        # the whole image is the face box, cut like the node cuts one (margin, square, resize)
        box = whole_box(image)
        crop = classifier.crop(image, box)
        return results_from_probs([box], [1.0], classifier.predict([crop]), classifier.class_names)

    try:
        classifier = MaskClassifier(args.model_path or default_model_path(), args.backend)
        failed = run(args.paths, args.jsonl, process)
    except (ModelError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 1 if failed else 0
