"""How ``evaluate`` scores the classifier and the face detectors on labelled photos.

The classifier on the labelled face boxes (:func:`evaluate_classifier`), and each detector of
``--detectors`` alone and end to end, detector + classifier as the node runs them
(:func:`evaluate_detector`): recall by face size and by class, false detections, face AP50
and mAP50, the classification of the faces found, 95 % intervals from resampling the photos,
and the time per 640x480 frame (:func:`compare_detectors`). Tables: :func:`detector_table`.
"""

import math
import os
import time
from typing import NamedTuple

import cv2
import numpy as np

from ..centerface import CenterFaceDetector
from ..crops import whole_box
from ..detectors import make_face_detector
from ..faces import DEFAULT_INPUT_SIZE, DETECTOR_KINDS, score_needed
from ..labels import CLASS_NAMES
from ..pipeline import FaceMaskPipeline
from .detection_metrics import (
    SIZE_BINS,
    PerPhotoAP,
    average_precision,
    box_side,
    match_boxes,
    photo_bootstrap,
    recall_table,
    size_bin,
)
from .metrics import classification_report, confusion_matrix

# Detector comparison: each detector is run once per photo down to this score, so that AP
# sees the whole precision-recall curve (YOLO's val runs at 0.001); recall and false
# detections are then read at the node's thresholds (face_confidence, large_face_confidence).
AP_MIN_SCORE = 0.05
# the size bins that the targets name, as unions of detection_metrics.SIZE_BINS
TARGET_BINS = {"<24": ("<16", "16-24"), ">=48": ("48-96", ">=96")}
MAX_DETECTIONS = 100  # per photo, highest scores first (COCO's cap)
FRAME_SIZE = (640, 480)  # MARRtino's camera


class DetectorSpec(NamedTuple):
    """One item of ``--detectors``."""

    name: str        # its name in metrics.json: centerface@640, dnn, haar, FILE.onnx@640
    kind: str        # centerface, dnn or haar
    size: int        # CenterFace's input size (px, the frame's longer side)
    path: str = None  # a CenterFace .onnx file of one's own; None: the kind's shipped weights


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


def parse_detectors(text, input_size=DEFAULT_INPUT_SIZE):
    """[:class:`DetectorSpec`] of "centerface,centerface@320,dnn,haar,FILE.onnx@480".

    An item ending in ``.onnx`` is a CenterFace file of one's own (e.g. of train-detector or
    mix-detector, or the shipped float32 ``centerface.onnx`` against the int8 file that
    ``centerface`` runs), run as it is. ``@N`` sets CenterFace's input size (default
    ``input_size``).
    """
    specs = []
    for item in (t.strip() for t in text.split(",") if t.strip()):
        name, _, size = item.rpartition("@") if "@" in item else (item, "", "")
        path = None
        if name.endswith(".onnx"):
            if not os.path.isfile(name):
                raise ValueError(f"--detectors: {name} not found: give an existing CenterFace "
                                 ".onnx file")
            path = name
        kind = "centerface" if path else name
        if kind not in DETECTOR_KINDS:
            raise ValueError(f"unknown detector '{name}' in --detectors: use "
                             f"{', '.join(DETECTOR_KINDS)} or a CenterFace .onnx file "
                             "(centerface@N for an input size)")
        if size and (kind != "centerface" or not size.isdigit()):
            raise ValueError(f"bad --detectors item '{item}': only centerface@N takes a size")
        size = int(size) if size else input_size
        specs.append(DetectorSpec(f"{name}@{size}" if kind == "centerface" else name, kind,
                                  size, path))
    if not specs:
        raise ValueError("--detectors names no detector")
    return specs


def make_detector(values, spec, confidence, large_confidence, min_size):
    """The face detector of ``spec`` with the node's settings ``values`` (config.settings:
    backend, face_model_dir), keeping faces from these thresholds.
    """
    if spec.path:
        return CenterFaceDetector(confidence, min_size, spec.path, spec.size, values["backend"],
                                  large_confidence)
    return make_face_detector(spec.kind, confidence, min_size, values["face_model_dir"] or None,
                              spec.size, values["backend"], large_confidence)


def node_detector(values, spec):
    """The detector as the node runs it with ``values``."""
    return make_detector(values, spec, values["face_confidence"],
                         values["large_face_confidence"], values["min_face_size"])


def scanning_detector(values, spec):
    """The detector as :func:`evaluate_detector` needs it: every face down to
    :data:`AP_MIN_SCORE` (haar has no score: the node's threshold) and no size filter.
    """
    floor = AP_MIN_SCORE if spec.kind != "haar" else values["face_confidence"]
    floor = min(floor, values["face_confidence"], values["large_face_confidence"])
    return make_detector(values, spec, floor, floor, 1)


def node_min_score(values, kind):
    """The score a face of a given longer side (px) needs in the node, with detector
    ``kind``: large_face_confidence is centerface's only.
    """
    confidence, large = values["face_confidence"], values["large_face_confidence"]
    if kind == "centerface":
        return lambda side: score_needed(side, confidence, large)
    return lambda side: confidence


def photos_of(samples):
    """{image: [its labelled faces]}."""
    by_image = {}
    for s in samples:
        by_image.setdefault(s.image, []).append(s)
    return by_image


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
        pipeline.classify_boxes(frame, [f.box for f in faces], [f.score for f in faces],
                                landmarks=[f.landmarks for f in faces])
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
        results = pipeline.classify_boxes(img, [d.box for d in kept], [d.score for d in kept],
                                          landmarks=[d.landmarks for d in kept])
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
        by_class[thr] = {name: {"faces": int(sum(1 for _, lab in faces if lab == c)),
                                "found": int(sum(h for (_, lab), h in zip(faces, hits)
                                                 if lab == c))}
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
    with ``reference``, of ``mean_ap - reference`` too.
    """
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
        # to 4 decimals outwards, so that the interval still holds the unrounded value
        low, high = photo_bootstrap(n, statistic, resamples, seed)
        return [math.floor(round(low * 1e4, 6)) / 1e4, math.ceil(round(high * 1e4, 6)) / 1e4]

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
    cancels out and the interval is far narrower than either one's.
    """
    everything = np.arange(n)
    low, high = photo_bootstrap(n, lambda idx: ours(idx) - theirs(idx), resamples, seed)
    return {"value": round(ours(everything) - theirs(everything), 4),
            "interval": [round(low, 4), round(high, 4)]}


def versus_baseline(baseline, face_detector, by_image, images, per_photo_map, values,
                    min_face, bootstrap, seed):
    """The headline detector's photos classified by the classifier ``baseline`` instead: its
    mAP50 and AP50 by class, and our mAP50 minus its, paired, with a 95 % interval.
    """
    result, baseline_map = evaluate_detector(
        FaceMaskPipeline(face_detector, baseline, min_white_level=0), by_image, images,
        node_min_score(values, face_detector.kind), values["min_face_size"], min_face)
    return {"model": os.path.abspath(baseline.path), "map50": result["map50"],
            "ap50": result["ap50"],
            "map50_minus_baseline": paired_difference(len(by_image), per_photo_map,
                                                      baseline_map, max(bootstrap, 1), seed)}


def compare_detectors(args, values, specs, classifier, samples, images, baseline=None):
    """Every detector of ``specs`` on the same photos and frames, in this run, with the
    node's settings ``values``; ``args``: evaluate's options (min_face, bootstrap, seed,
    timing_frames). Returns the table and the first detector's per-photo mAP50.
    """
    by_image = photos_of(samples)
    frames = [cv2.resize(images[rel], FRAME_SIZE, interpolation=cv2.INTER_LINEAR)
              for rel in sorted(by_image)[:max(args.timing_frames, 0)]]
    table, headline_map = {}, None
    for spec in specs:
        # the photos come brightened already (BrightenedImages): no second pass here
        scan = FaceMaskPipeline(scanning_detector(values, spec), classifier, min_white_level=0)
        result, per_photo_map = evaluate_detector(
            scan, by_image, images, node_min_score(values, spec.kind), values["min_face_size"],
            args.min_face, args.bootstrap, args.seed, headline_map)
        if headline_map is None and baseline is not None:
            result["versus_baseline"] = versus_baseline(
                baseline, scan.face_detector, by_image, images, per_photo_map, values,
                args.min_face, args.bootstrap, args.seed)
        headline_map = headline_map or per_photo_map
        node = FaceMaskPipeline(node_detector(values, spec), classifier, min_white_level=0)
        detect_ms, frame_ms = time_frames(node, frames)
        centerface = spec.kind == "centerface"
        table[spec.name] = {
            "detector": spec.kind, "input_size": spec.size if centerface else None,
            "backend": node.face_detector.backend if centerface else "opencv",
            "precision": getattr(node.face_detector, "precision", "float32"),
            "face_confidence": values["face_confidence"],
            "large_face_confidence": values["large_face_confidence"] if centerface else None,
            "min_face_size": values["min_face_size"], "ms_detector_640x480": detect_ms,
            "ms_frame_640x480": frame_ms, "timing_frames": len(frames), **result}
        print(f"  {spec.name}: mAP50 {result['map50']:.3f}"
              + (f", {frame_ms:.1f} ms a frame" if frame_ms else ""), flush=True)
    return table, headline_map


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


def bin_recall(by_size, name):
    """Recall at IoU 0.3 of a size bin, or of a target bin (a union of size bins), from a
    :func:`detection_metrics.recall_table`; None without faces.
    """
    bins = [by_size[b] for b in TARGET_BINS.get(name, (name,)) if b in by_size]
    faces = sum(b["faces"] for b in bins)
    return sum(b["found"] for b in bins) / faces if faces else None


def fmt_interval(pair, signed=False):
    return (f"{pair[0]:+.3f} to {pair[1]:+.3f}" if signed else f"{pair[0]:.3f}-{pair[1]:.3f}")
