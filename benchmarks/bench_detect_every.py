"""Benchmark: what the node's ``detect_every`` costs in accuracy and saves in time (not a test).

    ./scripts/env.sh python benchmarks/bench_detect_every.py
        [--data ../shared/data/face_mask_scenes] [--every 1,2,3,bg1,bg2] [--frames 6]
        [--threads 1]

With ``detect_every`` n the face detector runs on one frame in n, and the faces are moved by
optical flow on the others (``keyframe_detector.py``). ``bgN`` is ``detect_in_background``
with ``detect_every`` N: the detector runs in its own thread, so its faces arrive some frames
after the frame it ran on; for these rows the frames are fed in real time, at ``--fps``, as a
camera would, so that the lag is the real one. The dataset's photos are still, so a
camera move is simulated: each validation photo becomes a short clip of ``--frames`` frames,
shifted by 2 to 8 px and zoomed by up to 1 % a frame in a seeded random direction (about what
a turning robot or a walking person gives at 30 frames/s), with the labelled boxes moved the
same way. The clip starts at a random frame of the detector's cycle, as a live camera would.

- Accuracy (with ``--data``): over every frame of every clip, recall of the labelled faces at
  IoU >= 0.3 and >= 0.5 at the node's face_confidence, false detections per frame, and the
  classification (accuracy, macro recall) of the faces found that are >= 24 px, as
  ``evaluate`` counts them. The photos are the validation side of the shipped model's split.
- Time: median and mean ms per frame of detector + classifier over 60 frames of the benchmark
  frames with 1 and 3 faces (frames.py), panning 4 px a frame; the mean is what sets how many
  frames per second the node can answer. For ``bgN`` it is the time to answer a frame
  (fed at ``--fps``), the detector's own time running beside it.
- A frame full of faces (frames.py's poster, 176 faces): median ms of a frame in line with
  ``max_faces`` unbounded and at the node's default, and the median time to answer a frame
  at the node's defaults (64 faces followed by flow, one classified a frame).
- ``--classified 0,1,2``: the rows run the node's tracker too (tracking.FaceTracker at its
  defaults, reset for each clip), with ``max_classified_per_frame`` 0, 1, 2; a face's
  predicted class is then its track's label, as the node publishes it. Without it, each
  frame's own probabilities are scored and nothing is tracked.
"""

import argparse
import os
import sys
import time
from collections import defaultdict

import cv2
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from frames import bench_frames, frame_poster  # noqa: E402
from timing import timed  # noqa: E402

from marrtino_facemask.config import build_pipeline, settings  # noqa: E402
from marrtino_facemask.keyframe_detector import (  # noqa: E402
    DEFAULT_MAX_FACES,
    MAX_MAX_FACES,
    BackgroundDetector,
    KeyframeDetector,
)
from marrtino_facemask.lab.data import ImageCache  # noqa: E402
from marrtino_facemask.lab.detection_metrics import box_side, match_boxes  # noqa: E402
from marrtino_facemask.lab.metrics import classification_report, confusion_matrix  # noqa: E402
from marrtino_facemask.lab.real_samples import split_side  # noqa: E402
from marrtino_facemask.labels import CLASS_NAMES  # noqa: E402
from marrtino_facemask.model_file import default_model_path  # noqa: E402
from marrtino_facemask.threads import apply_threads  # noqa: E402
from marrtino_facemask.tracking import DEFAULT_CLASSIFY_BUDGET, FaceTracker  # noqa: E402

MIN_FACE = 24


def motion(rng, size):
    """A seeded per-frame camera move: (dx, dy) px and a zoom factor about the centre."""
    angle = rng.uniform(0, 2 * np.pi)
    speed = rng.uniform(2, 8)
    zoom = 1 + rng.uniform(-0.01, 0.01)
    return speed * np.cos(angle), speed * np.sin(angle), zoom


def affine(step, move, size):
    """The 2x3 matrix of ``step`` frames of ``move`` for an image of ``size`` (w, h)."""
    dx, dy, zoom = move
    m = cv2.getRotationMatrix2D((size[0] / 2, size[1] / 2), 0, zoom ** step)
    m[:, 2] += (dx * step, dy * step)
    return m


def move_box(box, m):
    x0, y0, x1, y1 = box
    pts = np.array([[x0, y0, 1], [x1, y1, 1]], np.float64) @ m.T
    return (pts[0, 0], pts[0, 1], pts[1, 0], pts[1, 1])


def clip(image, boxes, move, frames, flicker=0.0, rng=None):
    """The frames of a simulated camera move over ``image`` and the boxes in each. With
    ``flicker`` F, each frame's exposure is also scaled by a factor drawn from ``rng`` in
    [1 - F, 1 + F] (a camera's auto-exposure hunting).
    """
    size = (image.shape[1], image.shape[0])
    for step in range(frames):
        m = affine(step, move, size)
        frame = cv2.warpAffine(image, m, size, flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_CONSTANT)
        if flicker:
            frame = cv2.convertScaleAbs(frame, alpha=rng.uniform(1 - flicker, 1 + flicker))
        yield frame, [move_box(b, m) for b in boxes]


def validation_photos(data, classifier):
    """{photo: its labelled faces} of the validation side of the classifier's split."""
    _, samples = split_side(data, None, "val", classifier.meta.get("args", {}))
    by_image = defaultdict(list)
    for s in samples:
        by_image[s.image].append(s)
    return by_image


def scheduler(pipeline, mode):
    """(the detector as the node would wrap it, whether it runs in the background) for a
    mode such as "2" (detect_every 2) or "bg2" (the same in the background).
    """
    if mode.startswith("bg"):
        return BackgroundDetector(pipeline.face_detector, int(mode[2:])), True
    return KeyframeDetector(pipeline.face_detector, int(mode)), False


class Pacer:
    """Sleeps so that successive calls of :meth:`next` are ``period`` s apart (0: none)."""

    def __init__(self, period):
        self.period, self.t = period, None

    def next(self):
        if self.period and self.t is not None:
            time.sleep(max(0.0, self.t + self.period - time.perf_counter()))
        self.t = time.perf_counter()


def classify(pipeline, frame, dets, tracker, budget):
    """The frame's results as the node makes them: through ``tracker`` with ``budget``
    (max_classified_per_frame), or each frame's own probabilities when ``tracker`` is None.
    """
    boxes, scores = [d.box for d in dets], [d.score for d in dets]
    landmarks = [d.landmarks for d in dets]
    if tracker is None:
        return pipeline.classify_boxes(frame, boxes, scores, landmarks=landmarks)
    return tracker.update(pipeline.classify_boxes(frame, boxes, scores,
                                                  only=tracker.due(boxes, budget),
                                                  landmarks=landmarks))


def accuracy(pipeline, by_image, images, mode, frames, seed, fps, budget=None, flicker=0.0):
    rng = np.random.default_rng(seed)
    exposure_rng = np.random.default_rng([seed, 1])     # the flicker's own stream
    tracker = None if budget is None else FaceTracker()
    keyframes, background = scheduler(pipeline, mode)
    pacer = Pacer(1 / fps if background else 0)
    every = keyframes.every
    found = {0.3: 0, 0.5: 0}
    labelled = false = n_frames = 0
    y_true, y_pred = [], []
    names = pipeline.classifier.class_names
    for rel, faces in sorted(by_image.items()):
        image = images[rel]
        move = motion(rng, image.shape)
        if background:
            keyframes.wait_idle()
        keyframes.reset()
        if tracker is not None:
            tracker.reset()
        # start anywhere in the detector's cycle: frames before the clip, not scored. The
        # background one detects the first frame after a reset at once: never score that one
        warmup = int(rng.integers(1, every + 3) if background else rng.integers(0, every))
        size = (image.shape[1], image.shape[0])
        for k in range(warmup):
            pacer.next()
            warm = cv2.warpAffine(image, affine(k - warmup, move, size), size)
            dets = keyframes.detect(warm)
            if tracker is not None:            # the tracker sees the frames before, too
                classify(pipeline, warm, dets, tracker, budget)
        for frame, boxes in clip(image, [s.box for s in faces], move, frames, flicker,
                                 exposure_rng):
            pacer.next()
            frame = pipeline.prepare(frame)       # as the node: a dim frame is brightened
            results = classify(pipeline, frame, keyframes.detect(frame), tracker, budget)
            n_frames += 1
            labelled += len(boxes)
            for thr in found:
                matched = match_boxes(boxes, [r.box for r in results], thr)
                found[thr] += len(matched)
                if thr == 0.3:
                    false += len(results) - len(matched)
                    for gi, di in matched.items():
                        if box_side(boxes[gi]) >= MIN_FACE:
                            y_true.append(faces[gi].label)
                            best = (results[di].label if tracker is not None else
                                    names[int(np.argmax([results[di].scores[n] for n in names]))])
                            y_pred.append(CLASS_NAMES.index(best))
    keyframes.close()
    report = classification_report(confusion_matrix(y_true, y_pred, len(CLASS_NAMES)),
                                   CLASS_NAMES)
    return {"recall_0.3": found[0.3] / labelled, "recall_0.5": found[0.5] / labelled,
            "false_per_frame": false / n_frames, "accuracy": report["accuracy"],
            "macro_recall": report["macro_recall"], "frames": n_frames}


def timing(pipeline, frame, mode, fps, count=60, pan=4, budget=None):
    keyframes, background = scheduler(pipeline, mode)
    tracker = None if budget is None else FaceTracker()
    pacer = Pacer(1 / fps if background else 0)
    size = (frame.shape[1], frame.shape[0])
    clip_frames = [cv2.warpAffine(frame, affine(k, (pan * (1 if (k // 30) % 2 == 0 else -1), 0,
                                                    1.0), size), size)
                   for k in range(count)]
    for f in clip_frames[:keyframes.every]:      # warm-up
        pipeline.classify_boxes(f, [d.box for d in keyframes.detect(f)])
    if background:
        keyframes.wait_idle()
    keyframes.reset()
    ms = []
    for f in clip_frames:
        pacer.next()
        t0 = time.perf_counter()
        seen = pipeline.prepare(f)                # as the node: a dim frame is brightened
        classify(pipeline, seen, keyframes.detect(seen), tracker, budget)
        ms.append(1e3 * (time.perf_counter() - t0))
    keyframes.close()
    return float(np.median(ms)), float(np.mean(ms))


def row_name(mode, budget):
    return mode if budget is None else f"{mode}, tracked, max_classified_per_frame {budget}"


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=None, help="face_mask_scenes, for the accuracy table")
    p.add_argument("--model", default=default_model_path())
    p.add_argument("--every", default="1,2,3,bg1,bg2",
                   help="detect_every values, comma-separated; bgN: detect_in_background with "
                        "detect_every N")
    p.add_argument("--fps", type=float, default=30.0, help="camera rate of the bgN rows")
    p.add_argument("--frames", type=int, default=6, help="frames per simulated clip")
    p.add_argument("--threads", type=int, default=1, help="as the node's threads parameter")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--flicker", type=float, default=0.0,
                   help="accuracy table: scale each clip frame's exposure by a seeded factor "
                        "in [1 - F, 1 + F] (auto-exposure hunting; default 0: steady)")
    p.add_argument("--classified", default="",
                   help="max_classified_per_frame values, comma-separated: run the node's "
                        "tracker with each (default: no tracker, each frame's own "
                        "probabilities)")
    args = p.parse_args()
    apply_threads(args.threads)
    budgets = [int(v) for v in args.classified.split(",") if v.strip()] or [None]
    modes = [(v.strip(), b) for v in args.every.split(",") if v.strip() for b in budgets]
    values = settings(model_path=args.model)      # the node's defaults
    pipeline = build_pipeline(values)
    print(f"detector {pipeline.face_detector.kind} at {pipeline.face_detector.input_size} px "
          f"({pipeline.face_detector.backend} {pipeline.face_detector.precision}), classifier "
          f"{pipeline.classifier.backend} {pipeline.classifier.precision}, threads "
          f"{args.threads}, face_confidence {values['face_confidence']}, "
          f"large_face_confidence {values['large_face_confidence']}, min_face_size "
          f"{values['min_face_size']}")
    frames = bench_frames()
    print("\n| detect_every | 1 face: median / mean ms | 3 faces: median / mean ms |")
    print("| --- | --- | --- |")
    for mode, budget in modes:
        one = timing(pipeline, frames[1], mode, args.fps, budget=budget)
        three = timing(pipeline, frames[3], mode, args.fps, budget=budget)
        print(f"| {row_name(mode, budget)} | {one[0]:.1f} / {one[1]:.1f} | {three[0]:.1f} / "
              f"{three[1]:.1f} |", flush=True)
    poster = frame_poster()
    print("\n| frame full of faces (poster) | faces answered | median ms |\n| --- | --- | --- |")
    for max_faces in (MAX_MAX_FACES, DEFAULT_MAX_FACES):
        keyframes = KeyframeDetector(pipeline.face_detector, 1, max_faces)
        found = len(keyframes.detect(poster))
        med, _ = timed(lambda: pipeline.classify_boxes(
            poster, [d.box for d in keyframes.detect(poster)]), 5)
        print(f"| max_faces {max_faces} | {found} | {med:.0f} |", flush=True)
    # the node's defaults: each frame answered from the flow of every followed face, with
    # one of them classified
    crowd, _ = timing(pipeline, poster, "bg1", args.fps, budget=DEFAULT_CLASSIFY_BUDGET)
    print(f"| max_faces {DEFAULT_MAX_FACES}, node defaults (detector in the background, faces "
          f"followed, {DEFAULT_CLASSIFY_BUDGET} classified a frame): answer | "
          f"{DEFAULT_MAX_FACES} | {crowd:.0f} |", flush=True)
    if not args.data:
        return
    by_image = validation_photos(args.data, pipeline.classifier)
    images = ImageCache(args.data)
    print(f"\n{len(by_image)} validation photos, {args.frames} frames each, moving 2 to 8 px "
          f"a frame (seed {args.seed})"
          + (f", exposure changing by up to {args.flicker:.0%} a frame" if args.flicker else "")
          + "\n")
    print("| detect_every | recall IoU 0.3 | recall IoU 0.5 | false det. / frame | "
          f"accuracy >= {MIN_FACE} px | macro recall >= {MIN_FACE} px |")
    print("| --- | --- | --- | --- | --- | --- |")
    for mode, budget in modes:
        r = accuracy(pipeline, by_image, images, mode, args.frames, args.seed, args.fps, budget,
                     args.flicker)
        print(f"| {row_name(mode, budget)} | {r['recall_0.3']:.3f} | {r['recall_0.5']:.3f} | "
              f"{r['false_per_frame']:.2f} | {r['accuracy']:.3f} | {r['macro_recall']:.3f} |",
              flush=True)


if __name__ == "__main__":
    main()
