"""``python -m marrtino_facemask evaluate``: score a classifier on a dataset or a saved split.

The classifier (``--model``) is an ONNX file, run as the node runs it (default: the shipped
int8 ``models/facemask_resnet18_int8.onnx``), or a checkpoint .pt, run on torch as training
scored it. The detectors and the thresholds are the node's settings (config.py: the same
options as ``detect``, e.g. ``--face-confidence``, ``--backend``).

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
metrics.json, with confusion_matrix_end_to_end.png. The scoring is in detector_eval.py, that
of ``--conditions`` in conditions_eval.py.

``--folds RUN`` instead reads a cross-validation run of ``train --folds`` (crossval.py): the
table of its folds, pooled and per dataset, and with ``--against OTHER`` the paired difference
from another run on the same folds.
"""

import argparse
import json
import os
import sys

from ..classifier import MaskClassifier
from ..config import add_arguments, from_arguments
from ..exposure import BrightenedImages
from ..faces import FaceModelError
from ..labels import CLASS_NAMES
from ..model_file import ModelError, default_model_path
from . import conditions
from .card import print_folds, write_card
from .conditions_eval import compare_conditions, conditions_table
from .data import DatasetError, ImageCache
from .detector_eval import (
    compare_detectors,
    detector_table,
    evaluate_classifier,
    fmt_interval,
    parse_detectors,
)
from .metrics import plot_confusion_matrix
from .real_samples import SUBSETS, split_side

# The node's settings that evaluate takes (config.py makes their options): all those of the
# pipeline but the detector (--detectors names them) and model_path (--model).
SETTINGS = ("detector_input_size", "backend", "face_confidence", "large_face_confidence",
            "min_face_size", "min_white_level", "face_model_dir")
TIMING_FRAMES = 20


def parse_args(argv):
    p = argparse.ArgumentParser(prog="python -m marrtino_facemask evaluate", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=None,
                   help="the classifier: an .onnx file (int8 from quantize, float32 from "
                        "export), run on --backend as the node runs it, or a checkpoint .pt, "
                        "run on torch (default: the shipped models/facemask_resnet18_int8.onnx)")
    p.add_argument("--data", default=None, help="dataset folder (VOC scenes or class folders)")
    p.add_argument("--split", default=None,
                   help="split.json of a training run: evaluates its validation images")
    p.add_argument("--subset", choices=SUBSETS, default=None,
                   help="which side of the split to evaluate (default: val with --split, all "
                        "with --data alone). With --data and no --split, val/train recompute "
                        "the split of the checkpoint's training run (its seed and fraction)")
    p.add_argument("--min-face", type=int, default=24,
                   help="classification metrics use faces at least this big (px, longer side "
                        "of the labelled box)")
    p.add_argument("--out", default="runs/eval", help="output folder")
    p.add_argument("--folds", default=None, metavar="RUN",
                   help="the table of a cross-validation run (train --folds); written to "
                        "RUN/cv_metrics.json and RUN/cv_report.md")
    p.add_argument("--against", default=None, metavar="RUN",
                   help="with --folds: also the paired difference from this run (same folds)")
    p.add_argument("--card", default=None, metavar="JSON",
                   help="with --folds: write the figures a shipped classifier publishes "
                        "(models/metrics.json): its recipe, the folds' tables for the "
                        "checkpoints and their int8 copies, and the int8 copies' paired "
                        "difference from --against")
    p.add_argument("--int8", action="store_true",
                   help="with --folds: score each fold's int8 ONNX copy, as the node runs it "
                        "(exported and quantized on the fold's training photos if missing)")
    p.add_argument("--no-end-to-end", action="store_true", help="skip the face-detector pass")
    p.add_argument("--detectors", default="centerface,dnn,haar",
                   help="detectors to compare, comma-separated: centerface (the node's, int8), "
                        "dnn, haar, or a CenterFace .onnx file, run as it is (e.g. the "
                        "float32 models/face_detectors/centerface.onnx, or one of "
                        "train-detector or mix-detector); centerface@N or FILE.onnx@N sets "
                        "CenterFace's input size (default --detector-input-size). The first "
                        "one is the headline (end_to_end in metrics.json)")
    p.add_argument("--timing-frames", type=int, default=TIMING_FRAMES,
                   help="640x480 frames timed per detector (0: no timing)")
    p.add_argument("--bootstrap", type=int, default=1000,
                   help="photo resamplings for the 95 %% intervals (0: none)")
    p.add_argument("--seed", type=int, default=0, help="seed of the resampling")
    p.add_argument("--conditions", default=None,
                   help="also score the first detector and the classifier on the photos as a "
                        "robot's camera might see them: comma-separated, of "
                        f"{', '.join(conditions.CONDITIONS)}, or all (conditions.py says how "
                        "strong each is)")
    p.add_argument("--baseline-model", default=None,
                   help="a second classifier (.onnx or .pt, as --model) to compare with, on "
                        "the first detector's detections: its mAP50, and ours minus its with a "
                        "95 %% interval from the same resampled photos")
    add_arguments(p.add_argument_group(
        "the node's settings", "As in the node (config/detector.yaml): recall and false "
        "detections are read at its\nthresholds, and the photos are brightened as it would."),
        SETTINGS)
    return p.parse_args(argv)


def load_classifier(path, backend):
    """The classifier of ``path``: an .onnx on ``backend``, as the node runs it; a checkpoint
    .pt on torch, as training scored it (classifier_torch.py).
    """
    if not path.lower().endswith(".pt"):
        return MaskClassifier(path, backend)
    try:   # torch only for a .pt: an .onnx is scored without it
        from .classifier_torch import TorchNet
    except ImportError as exc:
        raise ModelError(f"model file '{path}' is a torch checkpoint and torch is missing "
                         f"({exc}): give its .onnx (export) instead") from None
    return MaskClassifier(path, net=TorchNet(path))


def run(args):
    """Score ``args.model``; write metrics.json and the figures into ``args.out``."""
    values = from_arguments(args, SETTINGS)                  # bad settings fail before any work
    if args.conditions:
        conditions.parse_conditions(args.conditions)     # a bad name too
    specs = None if args.no_end_to_end else parse_detectors(args.detectors,
                                                            values["detector_input_size"])
    classifier = load_classifier(args.model or default_model_path(), values["backend"])
    baseline = (load_classifier(args.baseline_model, values["backend"])
                if args.baseline_model else None)
    root, samples = split_side(args.data, args.split, args.subset,
                               classifier.meta.get("args", {}))
    if args.conditions and (samples[0].box is None or args.no_end_to_end):
        raise ValueError("--conditions needs VOC scenes with face boxes and the face-detector "
                         "pass (no --no-end-to-end)")
    raw_images = ImageCache(root)
    images = BrightenedImages(raw_images, values["min_white_level"])   # as the node sees them
    os.makedirs(args.out, exist_ok=True)
    big, every = evaluate_classifier(classifier, samples, images, args.min_face)
    metrics = {"model": os.path.abspath(classifier.path),
               "classifier_backend": classifier.backend,
               "classifier_precision": classifier.precision,
               "dataset": (os.path.abspath(root) if root       # "": several (split.json)
                           else sorted({s.source for s in samples})),
               "split": os.path.abspath(args.split) if args.split else None,
               "subset": args.subset or ("val" if args.split else "all"),
               "images": len({s.image for s in samples}), "min_face": args.min_face,
               "min_white_level": values["min_white_level"],
               "face_size": "longer side of the labelled box, px", **big,
               "all_face_sizes": every}
    plot_confusion_matrix(big["confusion_matrix"], CLASS_NAMES,
                          os.path.join(args.out, "confusion_matrix.png"),
                          title=f"faces >= {args.min_face}px")
    if samples[0].box is not None and specs:
        table, headline_map = compare_detectors(args, values, specs, classifier, samples,
                                                images, baseline)
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
            metrics["conditions"] = compare_conditions(args, values, specs[0], classifier,
                                                       samples, raw_images, headline_map)
            with open(os.path.join(args.out, "conditions.md"), "w") as f:
                f.write(conditions_table(metrics) + "\n")
    with open(os.path.join(args.out, "metrics.json"), "w") as f:
        json.dump(metrics, f, indent=1)
    return metrics


def summary(m):
    lines = [f"labelled faces >= {m['min_face']} px: {m['num_samples']}  accuracy "
             f"{m['accuracy']:.3f}  macro-F1 {m['macro_f1']:.3f}  macro recall "
             f"{m['macro_recall']:.3f}"]
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


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if (args.against or args.card) and not args.folds:
        print("error: --against and --card need --folds RUN", file=sys.stderr)
        return 2
    try:
        if args.folds and args.card:
            write_card(args.folds, args.card, main, args.against, args.min_face,
                       args.bootstrap, args.seed)
            return 0
        if args.folds:
            print_folds(args.folds, args.against, args.min_face, args.bootstrap, args.seed,
                        args.int8)
            return 0
        metrics = run(args)
    except (DatasetError, ModelError, FaceModelError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(summary(metrics))
    print(f"wrote {os.path.join(args.out, 'metrics.json')}")
    return 0
