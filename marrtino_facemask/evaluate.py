"""``python -m marrtino_facemask evaluate``: score a checkpoint on a dataset or a saved split.

Writes metrics.json and confusion_matrix.png into ``--out``: the classifier on the labelled
face boxes. On VOC scenes it then compares the face detectors (``--detectors``) on the same
photos, in the same run, alone and end to end (detector + classifier, as the node runs them):

- recall at IoU >= 0.3 and >= 0.5, by face size (the labelled box's longer side) and by class,
  at the node's face_confidence (large_face_confidence for boxes of 48 px or more) and with
  no size filter;
- false detections per photo (detections that match no labelled face at IoU 0.3);
- face AP50 (the detector alone, class-agnostic) and mAP50 over the three classes: PASCAL VOC
  AP (all-point interpolation, IoU 0.5) over all labelled faces whatever their size, with
  confidence = face score x class probability, one scored box per class for every face the
  node would classify (min_face_size applied);
- classification of the faces found that are >= --min-face px;
- the median time per 640x480 frame, detector alone and with the classifier;
- 95 % intervals of mAP50, face AP50 and the recalls at IoU 0.3 (``ci95`` in metrics.json),
  from ``--bootstrap`` resamplings of the photos (seeded), so that a difference between two
  runs can be read against the noise of a split of a few hundred faces.

The table goes to stdout and detectors.md; the first detector is also ``end_to_end`` in
metrics.json, with confusion_matrix_end_to_end.png.
"""

import argparse
import json
import os
import sys
import time

import cv2
import numpy as np

from . import conditions
from .checkpoint import ModelError, default_model_path
from .classifier import CLASSIFIER_BACKENDS, DEVICES, MaskClassifier
from .crops import whole_box
from .data import (DatasetError, ImageCache, group_near_duplicates, load_samples, load_split,
                   split_dict, split_groups, stem_of)
from .detection_metrics import (SIZE_BINS, PerPhotoAP, average_precision, box_side,
                                match_boxes, photo_bootstrap, recall_table, size_bin)
from .exposure import DEFAULT_MIN_WHITE_LEVEL, BrightenedImages, check_min_white_level
from .faces import (CENTERFACE_BASE_ONNX, CENTERFACE_INT8_ONNX, CENTERFACE_ONNX,
                    DEFAULT_FACE_CONFIDENCE, DEFAULT_INPUT_SIZE,
                    DEFAULT_LARGE_FACE_CONFIDENCE, DEFAULT_MIN_FACE_SIZE,
                    DETECTOR_BACKENDS, DETECTOR_KINDS, LARGE_FACE_SIZE, CenterFaceDetector,
                    FaceModelError, default_face_model_dir, make_face_detector,
                    score_needed)
from .labels import CLASS_NAMES
from .metrics import classification_report, confusion_matrix, plot_confusion_matrix
from .paths import DEFAULT_PRECISION, PRECISIONS
from .pipeline import FaceMaskPipeline

# Detector comparison: each detector is run once per photo down to this score, so that AP
# sees the whole precision-recall curve (YOLO's val runs at 0.001); recall and false
# detections are then read at the node's thresholds (face_confidence, large_face_confidence).
AP_MIN_SCORE = 0.05
# the size bins that the targets name, as unions of detection_metrics.SIZE_BINS
TARGET_BINS = {"<24": ("<16", "16-24"), ">=48": ("48-96", ">=96")}
MAX_DETECTIONS = 100  # per photo, highest scores first (COCO's cap)
TIMING_FRAMES = 20
FRAME_SIZE = (640, 480)  # MARRtino's camera


def parse_args(argv):
    p = argparse.ArgumentParser(prog="python -m marrtino_facemask evaluate", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=None, help="checkpoint .pt or an .onnx of it, e.g. the "
                                                 "int8 one (default: the shipped model)")
    p.add_argument("--backend", default="auto", choices=CLASSIFIER_BACKENDS,
                   help="how the classifier runs (default: as the node, ONNX Runtime when "
                        "installed and the model has its .onnx, else torch; openvino: optional, "
                        "pip install openvino)")
    p.add_argument("--precision", default=DEFAULT_PRECISION, choices=PRECISIONS,
                   help="the ONNX models, as the node: int8 (the quantized *_int8.onnx "
                        "of the classifier and of centerface where they exist) or float32")
    p.add_argument("--data", default=None, help="dataset folder (VOC scenes or class folders)")
    p.add_argument("--split", default=None,
                   help="split.json of a training run: evaluates its validation images")
    p.add_argument("--subset", choices=("val", "train", "all"), default=None,
                   help="which side of the split to evaluate (default: val with --split, all "
                        "with --data alone). With --data and no --split, val/train recompute "
                        "the split of the checkpoint's training run (its seed and fraction)")
    p.add_argument("--min-face", type=int, default=24,
                   help="classification metrics use faces at least this big (px, longer side "
                        "of the labelled box)")
    p.add_argument("--out", default="runs/eval", help="output folder")
    p.add_argument("--no-end-to-end", action="store_true", help="skip the face-detector pass")
    p.add_argument("--detectors", default="centerface,centerface-widerface,dnn,haar",
                   help="detectors to compare, comma-separated: centerface (ours, fine-tuned), "
                        "centerface-widerface (as published), centerface-int8 / "
                        "centerface-float32 (ours in that precision, whatever --precision), "
                        "centerface-openvino (ours on OpenVINO, if installed), "
                        "dnn, haar, or a CenterFace .onnx file of your own (e.g. from "
                        "train-detector or mix-detector); centerface@N sets "
                        f"CenterFace's input size (default {DEFAULT_INPUT_SIZE}). The first one "
                        "is the headline (end_to_end in metrics.json)")
    p.add_argument("--detector-backend", default="auto", choices=DETECTOR_BACKENDS,
                   help="how CenterFace runs (default: ONNX Runtime when installed, as the node)")
    p.add_argument("--face-confidence", type=float, default=DEFAULT_FACE_CONFIDENCE,
                   help="the node's face_confidence: recall and false detections are read there")
    p.add_argument("--large-face-confidence", type=float, default=DEFAULT_LARGE_FACE_CONFIDENCE,
                   help=f"the node's large_face_confidence: the score that boxes of "
                        f"{LARGE_FACE_SIZE} px or more need, where lower than --face-confidence")
    p.add_argument("--face-min-size", type=int, default=DEFAULT_MIN_FACE_SIZE,
                   help="the node's min_face_size, applied to what is classified (end to end)")
    p.add_argument("--face-model-dir", default=None,
                   help="folder with the detector weights (default: the shipped models/face_detectors)")
    p.add_argument("--min-white-level", type=int, default=DEFAULT_MIN_WHITE_LEVEL,
                   help="the node's min_white_level: photos whose brightest 1 %% is darker "
                        "than this grey level are brightened first (0: never; exposure.py)")
    p.add_argument("--timing-frames", type=int, default=TIMING_FRAMES,
                   help="640x480 frames timed per detector (0: no timing)")
    p.add_argument("--device", default="auto", choices=DEVICES)
    p.add_argument("--bootstrap", type=int, default=1000,
                   help="photo resamplings for the 95 %% intervals (0: none)")
    p.add_argument("--seed", type=int, default=0, help="seed of the resampling")
    p.add_argument("--conditions", default=None,
                   help="also score the first detector and the classifier on the photos as a "
                        "robot's camera might see them: comma-separated, of "
                        f"{', '.join(conditions.CONDITIONS)}, or all (conditions.py says how "
                        "strong each is)")
    p.add_argument("--baseline-model", default=None,
                   help="a second classifier to compare with, on the first detector's "
                        "detections: its mAP50, and ours minus its with a 95 %% interval from "
                        "the same resampled photos")
    return p.parse_args(argv)


def recompute_split(root, samples, train_args):
    """The split a training run made: the split file it was given, else its recorded seed and
    validation fraction."""
    if train_args.get("split"):
        if not os.path.isfile(train_args["split"]):
            raise DatasetError(f"the checkpoint was trained on the split {train_args['split']}, "
                               "which is not here: pass --split with that file")
        return load_split(train_args["split"])
    if "seed" not in train_args or "val_fraction" not in train_args:
        raise DatasetError("the checkpoint records no training split: pass --split split.json "
                           "or --subset all")
    grouped = group_near_duplicates(samples, ImageCache(root))
    train_groups, val_groups = split_groups(grouped, train_args["val_fraction"], train_args["seed"])
    return split_dict(root, "", grouped, train_groups, val_groups, train_args["seed"],
                      train_args["val_fraction"])


def select_samples(args, train_args):
    """(root, samples) to evaluate, from --data and/or --split."""
    if args.split:
        split = load_split(args.split)
        root = args.data or split["dataset"]
        _, samples = load_samples(root)
    elif args.data:
        root = args.data
        _, samples = load_samples(root)
        split = recompute_split(root, samples, train_args) if args.subset in ("val", "train") else None
    else:
        raise DatasetError("give --data DIR or --split split.json")
    subset = args.subset or ("val" if args.split else "all")
    if subset != "all":
        stems = {stem_of(p) for p in split[subset]}   # by stem: a split of a re-encoded copy
        samples = [s for s in samples if stem_of(s.image) in stems]
    if not samples:
        raise DatasetError("no faces to evaluate")
    return root, samples


def label_map(class_names):
    """Index of each of the classifier's classes among the dataset's (by name, not by order)."""
    unknown = [n for n in class_names if n not in CLASS_NAMES]
    if unknown:
        raise ValueError(f"the model's classes {unknown} are not dataset classes {CLASS_NAMES}")
    return np.array([CLASS_NAMES.index(n) for n in class_names])


def evaluate_classifier(classifier, samples, images, min_face):
    """Classification of the labelled face boxes: (faces >= min_face px, all faces)."""
    sides = np.array([box_side(s.box or whole_box(images[s.image])) for s in samples])
    crops = [classifier.crop(images[s.image], s.box or whole_box(images[s.image]))
             for s in samples]
    y_pred = label_map(classifier.class_names)[classifier.predict(crops).argmax(1)]
    y_true = np.array([s.label for s in samples])
    big = sides >= min_face
    return (classification_report(confusion_matrix(y_true[big], y_pred[big], len(CLASS_NAMES)),
                                  CLASS_NAMES),
            classification_report(confusion_matrix(y_true, y_pred, len(CLASS_NAMES)), CLASS_NAMES))


# CenterFace variants: (file, backend, precision); None: --detector-backend / --precision.
# The published net has a fixed input size in its graph (OpenCV's dnn copes), the int8 copy
# needs ONNX Runtime (or OpenVINO). centerface-openvino: ours on OpenVINO (optional,
# openvino_nets.py), in --precision.
CENTERFACE_VARIANTS = {"centerface-widerface": (CENTERFACE_BASE_ONNX, "opencv", "float32"),
                       "centerface-int8": (CENTERFACE_INT8_ONNX, "onnxruntime", "int8"),
                       "centerface-float32": (CENTERFACE_ONNX, None, "float32"),
                       "centerface-openvino": (CENTERFACE_ONNX, "openvino", None)}


def parse_detectors(text, model_dir=None):
    """[(name, kind, input_size, variant)] from "centerface,centerface@320,dnn,haar".

    ``centerface-widerface`` is CenterFace as published, before our fine-tuning;
    ``centerface-int8`` and ``centerface-float32`` are ours in one precision, whatever
    --precision says. An item ending in ``.onnx`` is a CenterFace file of one's own (its int8
    copy beside it is run for --precision int8, as the node does). ``variant``: (model path,
    backend, precision) of those, else None.
    """
    specs = []
    for item in (t.strip() for t in text.split(",") if t.strip()):
        name, _, size = item.rpartition("@") if "@" in item else (item, "", "")
        variant = CENTERFACE_VARIANTS.get(name)
        if name.endswith(".onnx"):   # a CenterFace file of one's own, e.g. of train-detector
            if not os.path.isfile(name):
                raise ValueError(f"--detectors: {name} not found: give an existing CenterFace "
                                 ".onnx file")
            variant = (name, None, None)
        kind = "centerface" if variant else name
        if kind not in DETECTOR_KINDS:
            raise ValueError(f"unknown detector '{name}' in --detectors: use "
                             f"{', '.join(DETECTOR_KINDS + tuple(CENTERFACE_VARIANTS))} "
                             "(centerface@N for an input size)")
        if size and (kind != "centerface" or not size.isdigit()):
            raise ValueError(f"bad --detectors item '{item}': only centerface@N takes a size")
        size = int(size) if size else DEFAULT_INPUT_SIZE
        if variant and not name.endswith(".onnx"):
            variant = (os.path.join(model_dir or default_face_model_dir(), variant[0]),
                       *variant[1:])
        specs.append((f"{name}@{size}" if kind == "centerface" else name, kind, size, variant))
    if not specs:
        raise ValueError("--detectors names no detector")
    return specs


def time_frames(pipeline, frames):
    """Median ms per frame of the detector alone and of detector + classifier."""
    if not frames:
        return None, None
    for frame in frames[:2]:  # warm-up
        pipeline(frame)
    detect_ms, frame_ms = [], []
    for frame in frames:
        t0 = time.perf_counter()
        faces = pipeline.face_detector.detect(frame)
        t1 = time.perf_counter()
        pipeline.classify_boxes(frame, [f.box for f in faces], [f.score for f in faces])
        t2 = time.perf_counter()
        detect_ms.append((t1 - t0) * 1e3)
        frame_ms.append((t2 - t0) * 1e3)
    return float(np.median(detect_ms)), float(np.median(frame_ms))


def evaluate_detector(pipeline, by_image, images, min_score, face_min_size, min_face,
                      bootstrap=0, seed=0, reference=None):
    """Detector alone and end to end on labelled photos; with ``bootstrap`` > 0, 95 %
    intervals by resampling the photos, and of the difference of mAP50 from ``reference``
    (another detector's per-photo mAP50, on the same photos, resampled together with ours).
    Returns the metrics and this detector's per-photo mAP50 (a function of photo indices).

    ``pipeline.face_detector`` must be set to keep every face down to :data:`AP_MIN_SCORE`
    and min size 1; the node's score threshold (``min_score``: the one a face of a given
    longer side in px needs, :func:`node_min_score`) and min_face_size are applied here.
    """
    def node_keeps(box, score):
        return score >= min_score(box_side(box))

    to_dataset = label_map(pipeline.classifier.class_names)
    faces, found, face_photo = [], {0.3: [], 0.5: []}, []
    false_detections, face_ap_images = 0, []
    class_images = {c: [] for c in range(len(CLASS_NAMES))}
    y_true, y_pred = [], []
    for rel, labelled in sorted(by_image.items()):
        img = images[rel]
        gt = [s.box for s in labelled]
        dets = pipeline.face_detector.detect(img)[:MAX_DETECTIONS]
        # detector alone, at the node's threshold and with no size filter, so that the
        # small-size bins are not biased by min_face_size
        node_dets = [d for d in dets if node_keeps(d.box, d.score)]
        faces.extend((s.box, s.label) for s in labelled)
        face_photo.extend([len(face_ap_images)] * len(labelled))
        for thr in found:
            matched = match_boxes(gt, [d.box for d in node_dets], thr)
            found[thr].extend(i in matched for i in range(len(gt)))
            if thr == 0.3:
                false_detections += len(node_dets) - len(matched)
        face_ap_images.append((gt, [d.box for d in dets], [d.score for d in dets]))
        # end to end: what the node classifies and publishes (min_face_size applied)
        kept = [d for d in dets if box_side(d.box) >= face_min_size]
        results = pipeline.classify_boxes(img, [d.box for d in kept], [d.score for d in kept])
        probs = np.array([[r.scores[n] for n in pipeline.classifier.class_names]
                          for r in results]).reshape(len(results), len(to_dataset))
        for c in class_images:
            cls_gt = [s.box for s in labelled if s.label == c]
            cols = np.nonzero(to_dataset == c)[0]
            score = (probs[:, cols[0]] if len(cols) else np.zeros(len(results)))
            class_images[c].append((cls_gt, [r.box for r in results],
                                    [r.face_score * p for r, p in zip(results, score)]))
        published = [i for i, r in enumerate(results) if node_keeps(r.box, r.face_score)]
        matched = match_boxes(gt, [results[i].box for i in published], 0.3)
        for gi, di in matched.items():
            if box_side(gt[gi]) >= min_face:
                y_true.append(labelled[gi].label)
                y_pred.append(int(to_dataset[int(np.argmax(probs[published[di]]))]))
    by_class = {}
    for thr, hits in found.items():
        by_class[thr] = {name: {"faces": int(sum(1 for _, l in faces if l == c)),
                                "found": int(sum(h for (_, l), h in zip(faces, hits) if l == c))}
                         for c, name in enumerate(CLASS_NAMES)}
        for v in by_class[thr].values():
            v["recall"] = v["found"] / v["faces"] if v["faces"] else 0.0
    ap = {name: average_precision(class_images[c]) for c, name in enumerate(CLASS_NAMES)}
    present = [v for v in ap.values() if not np.isnan(v)]
    class_ap = [PerPhotoAP(class_images[c]) for c in sorted(class_images)]

    def mean_ap(idx):
        values = [v for v in (c.ap(idx) for c in class_ap) if not np.isnan(v)]
        return float(np.mean(values)) if values else 0.0

    intervals = ({} if bootstrap <= 0 else
                 confidence_intervals(face_ap_images, mean_ap, faces, face_photo, found[0.3],
                                      bootstrap, seed, reference,
                                      dict(zip(CLASS_NAMES, class_ap))))
    return {
        "recall_iou_0.3": {"by_size": recall_table(faces, found[0.3]), "by_class": by_class[0.3]},
        "recall_iou_0.5": {"by_size": recall_table(faces, found[0.5]), "by_class": by_class[0.5]},
        "false_detections_per_image": false_detections / max(len(by_image), 1),
        "face_ap50": average_precision(face_ap_images),
        "ap50": ap,
        "map50": float(np.mean(present)) if present else 0.0,
        f"classification_of_found_faces_min_face_{min_face}": classification_report(
            confusion_matrix(y_true, y_pred, len(CLASS_NAMES)), CLASS_NAMES),
        **({"ci95": intervals} if intervals else {}),
    }, mean_ap


def confidence_intervals(face_ap_images, mean_ap, faces, face_photo, found, resamples, seed,
                         reference=None, class_ap=None):
    """95 % intervals of face AP50, mAP50 (``mean_ap``: per photo indices), each class's AP50
    (``class_ap``: {name: PerPhotoAP}) and the recall at IoU 0.3 by size bin and over all
    faces, from ``resamples`` resamplings of the photos (detection_metrics.photo_bootstrap);
    with ``reference``, of ``mean_ap - reference`` too."""
    n = len(face_ap_images)
    face_ap = PerPhotoAP(face_ap_images)
    # faces and faces found per photo, by size bin, by the target bins and in all
    columns = list(SIZE_BINS) + list(TARGET_BINS) + ["all"]
    total, hits = np.zeros((n, len(columns))), np.zeros((n, len(columns)))
    for (box, _), photo, hit in zip(faces, face_photo, found):
        name = size_bin(box_side(box))
        for col, column in enumerate(columns):
            if column in (name, "all") or name in TARGET_BINS.get(column, ()):
                total[photo, col] += 1
                hits[photo, col] += hit

    def recall(col):
        return lambda idx: hits[idx, col].sum() / max(total[idx, col].sum(), 1.0)

    def interval(statistic):
        return [round(v, 4) for v in photo_bootstrap(n, statistic, resamples, seed)]

    out = {"method": f"{resamples} resamplings of the {n} photos with replacement, "
                     f"percentile, seed {seed}",
           "map50": interval(mean_ap), "face_ap50": interval(face_ap.ap),
           # a resampling without a class's faces has no AP for it: counted as 0 here
           "ap50": {name: interval(lambda idx, c=c: np.nan_to_num(c.ap(idx)))
                    for name, c in (class_ap or {}).items()},
           "recall_iou_0.3": {name: interval(recall(col)) for col, name in enumerate(columns)
                              if total[:, col].sum() > 0}}
    if reference is not None:
        out["map50_minus_headline"] = paired_difference(n, mean_ap, reference, resamples, seed)
    return out


def paired_difference(n, ours, theirs, resamples, seed):
    """``ours - theirs`` of two per-photo metrics on all ``n`` photos, with its 95 % interval.
    Paired: both are computed on the same resampled photos, so the photos' own difficulty
    cancels out and the interval is far narrower than either one's."""
    everything = np.arange(n)
    low, high = photo_bootstrap(n, lambda idx: ours(idx) - theirs(idx), resamples, seed)
    return {"value": round(ours(everything) - theirs(everything), 4),
            "interval": [round(low, 4), round(high, 4)]}


def versus_baseline(args, face_detector, by_image, images, per_photo_map):
    """The headline detector's photos classified by ``--baseline-model`` instead: its mAP50
    and AP50 by class, and our mAP50 minus its, paired, with a 95 % interval."""
    baseline = MaskClassifier(args.baseline_model, args.device, args.backend, args.precision)
    result, baseline_map = evaluate_detector(
        FaceMaskPipeline(face_detector, baseline, min_white_level=0), by_image, images,
        node_min_score(args, face_detector.kind), args.face_min_size, args.min_face)
    return {"model": os.path.abspath(baseline.path), "map50": result["map50"],
            "ap50": result["ap50"],
            "map50_minus_baseline": paired_difference(len(by_image), per_photo_map,
                                                      baseline_map,
                                                      max(args.bootstrap, 1), args.seed)}


def compare_detectors(args, classifier, samples, images):
    """Every detector of ``--detectors`` on the same photos and frames, in this run."""
    by_image = {}
    for s in samples:
        by_image.setdefault(s.image, []).append(s)
    frames = [cv2.resize(images[rel], FRAME_SIZE, interpolation=cv2.INTER_LINEAR)
              for rel in sorted(by_image)[:max(args.timing_frames, 0)]]
    table, headline_map = {}, None
    for spec in parse_detectors(args.detectors, args.face_model_dir):
        name, kind, size, _ = spec
        # the photos come brightened already (BrightenedImages): no second pass here
        scan = FaceMaskPipeline(scanning_detector(args, spec), classifier, min_white_level=0)
        result, per_photo_map = evaluate_detector(
            scan, by_image, images, node_min_score(args, kind), args.face_min_size, args.min_face,
            args.bootstrap, args.seed, headline_map)
        if headline_map is None and args.baseline_model:
            result["versus_baseline"] = versus_baseline(args, scan.face_detector, by_image,
                                                        images, per_photo_map)
        headline_map = headline_map or per_photo_map
        node = FaceMaskPipeline(make_detector(args, spec, args.face_confidence,
                                              args.large_face_confidence, args.face_min_size),
                                classifier,
                                min_white_level=0)
        detect_ms, frame_ms = time_frames(node, frames)
        backend = node.face_detector.backend if kind == "centerface" else "opencv"
        table[name] = {"detector": kind, "input_size": size if kind == "centerface" else None,
                       "backend": backend,
                       "precision": getattr(node.face_detector, "precision", "float32"),
                       "face_confidence": args.face_confidence,
                       "large_face_confidence": (args.large_face_confidence
                                                 if kind == "centerface" else None),
                       "min_face_size": args.face_min_size, "ms_detector_640x480": detect_ms,
                       "ms_frame_640x480": frame_ms, "timing_frames": len(frames), **result}
        print(f"  {name}: mAP50 {result['map50']:.3f}"
              + (f", {frame_ms:.1f} ms a frame" if frame_ms else ""), flush=True)
    return table, headline_map


def node_min_score(args, kind):
    """The score a face of a given longer side (px) needs in the node, with detector
    ``kind``: large_face_confidence is centerface's only."""
    if kind == "centerface":
        return lambda side: score_needed(side, args.face_confidence, args.large_face_confidence)
    return lambda side: args.face_confidence


def make_detector(args, spec, confidence, large_confidence, min_size):
    """The face detector of a :func:`parse_detectors` item."""
    _, kind, size, variant = spec
    if variant:
        path, backend, precision = variant
        return CenterFaceDetector(confidence, min_size, path, size,
                                  backend or args.detector_backend, precision or args.precision,
                                  large_confidence)
    return make_face_detector(kind, confidence, min_size, args.face_model_dir, size,
                              args.detector_backend, args.precision, large_confidence)


def scanning_detector(args, spec):
    """The detector as :func:`evaluate_detector` needs it: every face down to
    :data:`AP_MIN_SCORE` (haar has no score: the node's threshold) and no size filter."""
    floor = AP_MIN_SCORE if spec[1] != "haar" else args.face_confidence
    floor = min(floor, args.face_confidence, args.large_face_confidence)
    return make_detector(args, spec, floor, floor, 1)


def compare_conditions(args, classifier, samples, images, headline_map):
    """The first detector and the classifier on the photos (``images``, as they are) under
    each of ``--conditions`` (conditions.py), then brightened as the node would: end to end
    as in the detector table, mAP50 minus that on the photos as they are (paired, with a
    95 % interval), and the classifier on the labelled boxes."""
    by_image = {}
    for s in samples:
        by_image.setdefault(s.image, []).append(s)
    spec = parse_detectors(args.detectors, args.face_model_dir)[0]
    scan = FaceMaskPipeline(scanning_detector(args, spec), classifier, min_white_level=0)
    out = {}
    for name in conditions.parse_conditions(args.conditions):
        seen = BrightenedImages(conditions.ConditionImages(images, name, args.seed),
                                args.min_white_level)
        labelled, _ = evaluate_classifier(classifier, samples, seen, args.min_face)
        result, _ = evaluate_detector(scan, by_image, seen, node_min_score(args, spec[1]),
                                      args.face_min_size, args.min_face,
                                      max(args.bootstrap, 1), args.seed, headline_map)
        out[name] = dict(result, detector=spec[0], classifier_on_labelled_boxes=labelled)
        print(f"  {name}: mAP50 {result['map50']:.3f}, labelled faces >= {args.min_face} px "
              f"accuracy {labelled['accuracy']:.3f}", flush=True)
    return out


def run(args):
    check_min_white_level(args.min_white_level)          # fails before any work, too
    if args.conditions:
        conditions.parse_conditions(args.conditions)     # a bad name fails before any work
    model_path = args.model or default_model_path()
    classifier = MaskClassifier(model_path, args.device, args.backend, args.precision)
    root, samples = select_samples(args, classifier.meta.get("args", {}))
    if args.conditions and (samples[0].box is None or args.no_end_to_end):
        raise ValueError("--conditions needs VOC scenes with face boxes and the face-detector "
                         "pass (no --no-end-to-end)")
    raw_images = ImageCache(root)
    images = BrightenedImages(raw_images, args.min_white_level)   # as the node sees them
    os.makedirs(args.out, exist_ok=True)
    big, every = evaluate_classifier(classifier, samples, images, args.min_face)
    metrics = {"model": os.path.abspath(classifier.path),
               "classifier_backend": classifier.backend,
               "classifier_precision": classifier.precision, "dataset": os.path.abspath(root),
               "split": os.path.abspath(args.split) if args.split else None,
               "subset": args.subset or ("val" if args.split else "all"),
               "images": len({s.image for s in samples}), "min_face": args.min_face,
               "min_white_level": args.min_white_level,
               "face_size": "longer side of the labelled box, px", **big,
               "all_face_sizes": every}
    plot_confusion_matrix(big["confusion_matrix"], CLASS_NAMES,
                          os.path.join(args.out, "confusion_matrix.png"),
                          title=f"faces >= {args.min_face}px")
    if samples[0].box is not None and not args.no_end_to_end:
        table, headline_map = compare_detectors(args, classifier, samples, images)
        metrics["detectors"] = table
        headline = next(iter(table))
        metrics["end_to_end"] = dict(table[headline], name=headline)
        cls = table[headline][f"classification_of_found_faces_min_face_{args.min_face}"]
        plot_confusion_matrix(cls["confusion_matrix"], CLASS_NAMES,
                              os.path.join(args.out, "confusion_matrix_end_to_end.png"),
                              title=f"found by {headline}")
        with open(os.path.join(args.out, "detectors.md"), "w") as f:
            f.write(detector_table(metrics) + "\n")
        if args.conditions:
            metrics["conditions"] = compare_conditions(args, classifier, samples, raw_images,
                                                       headline_map)
            with open(os.path.join(args.out, "conditions.md"), "w") as f:
                f.write(conditions_table(metrics) + "\n")
    with open(os.path.join(args.out, "metrics.json"), "w") as f:
        json.dump(metrics, f, indent=1)
    return metrics


def detector_table(m):
    """The detector comparison as a Markdown table."""
    min_face = m["min_face"]
    head = (["detector", "runs on", "ms / 640x480 frame"]
            + [f"recall {b} px" for b in SIZE_BINS] + ["recall all", "recall all (IoU 0.5)",
                                                       "false det. / image", "face AP50", "mAP50"]
            + [f"accuracy ≥ {min_face} px", f"macro recall ≥ {min_face} px"])
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for name, d in m["detectors"].items():
        sizes = d["recall_iou_0.3"]["by_size"]
        cls = d[f"classification_of_found_faces_min_face_{min_face}"]
        ms = d["ms_frame_640x480"]
        row = ([f"`{name}`", f"{d['backend']} {d.get('precision', 'float32')}",
                f"{ms:.1f}" if ms is not None else "-"]
               + [f"{sizes[b]['recall']:.3f}" if b in sizes else "-" for b in SIZE_BINS]
               + [f"{sizes['all']['recall']:.3f}",
                  f"{d['recall_iou_0.5']['by_size']['all']['recall']:.3f}",
                  f"{d['false_detections_per_image']:.2f}", f"{d['face_ap50']:.3f}",
                  f"**{d['map50']:.3f}**", f"{cls['accuracy']:.3f}", f"{cls['macro_recall']:.3f}"])
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def conditions_table(m):
    """The first detector and the classifier under each camera condition, as Markdown."""
    min_face = m["min_face"]
    head = (["condition", "recall <24 px", "recall 24-48 px", "recall >=48 px", "recall all",
             "face AP50", "mAP50", "mAP50 minus as-is (95 % interval)",
             f"found faces ≥ {min_face} px: accuracy / macro recall",
             f"labelled faces ≥ {min_face} px: accuracy / macro recall"])
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    headline = m["end_to_end"]
    rows = [("as is", headline, {"accuracy": m["accuracy"], "macro_recall": m["macro_recall"]})]
    rows += [(name, c, c["classifier_on_labelled_boxes"]) for name, c in m["conditions"].items()]
    for name, d, labelled in rows:
        by_size = d["recall_iou_0.3"]["by_size"]
        found = d[f"classification_of_found_faces_min_face_{min_face}"]
        diff = d.get("ci95", {}).get("map50_minus_headline") if name != "as is" else None
        recalls = [bin_recall(by_size, b) for b in ("<24", "24-48", ">=48", "all")]
        lines.append("| " + " | ".join(
            [f"`{name}`" if name != "as is" else "as is"]
            + [f"{r:.3f}" if r is not None else "-" for r in recalls]
            + [f"{d['face_ap50']:.3f}", f"**{d['map50']:.3f}**",
               (f"{diff['value']:+.3f} ({fmt_interval(diff['interval'], True)})" if diff
                else "-"),
               f"{found['accuracy']:.3f} / {found['macro_recall']:.3f}",
               f"{labelled['accuracy']:.3f} / {labelled['macro_recall']:.3f}"]) + " |")
    return "\n".join(lines)


def bin_recall(by_size, name):
    """Recall at IoU 0.3 of a size bin, or of a target bin (a union of size bins), from a
    :func:`detection_metrics.recall_table`; None without faces."""
    bins = [by_size[b] for b in TARGET_BINS.get(name, (name,)) if b in by_size]
    faces = sum(b["faces"] for b in bins)
    return sum(b["found"] for b in bins) / faces if faces else None


def summary(m):
    lines = [f"labelled faces >= {m['min_face']} px: {m['num_samples']}  accuracy "
             f"{m['accuracy']:.3f}  macro-F1 {m['macro_f1']:.3f}  macro recall {m['macro_recall']:.3f}"]
    for name, c in m["per_class"].items():
        lines.append(f"  {name:<22} precision {c['precision']:.3f}  recall {c['recall']:.3f}  "
                     f"F1 {c['f1']:.3f}  support {c['support']}")
    if "detectors" in m:
        lines.append(f"detectors on {m['images']} photos (recall at IoU 0.3, by the labelled "
                     "box's longer side; mAP50 VOC all-point, end to end):")
        lines.append(detector_table(m))
        for name, d in m["detectors"].items():
            if "ci95" in d:
                ci, r = d["ci95"], d["ci95"]["recall_iou_0.3"]
                lines.append(f"  {name}, 95 % intervals ({ci['method']}): mAP50 "
                             f"{fmt_interval(ci['map50'])}, face AP50 "
                             f"{fmt_interval(ci['face_ap50'])}, recall "
                             + ", ".join(f"{b} px {fmt_interval(r[b])}"
                                         for b in ("<24", "24-48", ">=48") if b in r)
                             + f", all {fmt_interval(r['all'])}"
                             + (f"; mAP50 minus the first detector's "
                                f"{ci['map50_minus_headline']['value']:+.3f} "
                                f"({fmt_interval(ci['map50_minus_headline']['interval'], True)})"
                                if "map50_minus_headline" in ci else ""))
            if "versus_baseline" in d:
                b = d["versus_baseline"]
                lines.append(f"  {name}: with --baseline-model {b['model']}: mAP50 "
                             f"{b['map50']:.3f}; ours minus the baseline's "
                             f"{b['map50_minus_baseline']['value']:+.3f} ("
                             f"{fmt_interval(b['map50_minus_baseline']['interval'], True)})")
    if "conditions" in m:
        lines.append(f"under camera conditions (conditions.py), {m['end_to_end']['name']} and "
                     "the classifier:")
        lines.append(conditions_table(m))
    return "\n".join(lines)


def fmt_interval(pair, signed=False):
    return (f"{pair[0]:+.3f} to {pair[1]:+.3f}" if signed else f"{pair[0]:.3f}-{pair[1]:.3f}")


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        metrics = run(args)
    except (DatasetError, ModelError, FaceModelError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(summary(metrics))
    print(f"wrote {os.path.join(args.out, 'metrics.json')}")
    return 0
