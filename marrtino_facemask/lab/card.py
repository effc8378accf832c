"""The figures that a cross-validation run publishes (``evaluate --folds RUN``): its table
printed and written beside it, its folds' int8 copies scored as the node runs them, and
``--card``, the figures of the shipped classifier in models/metrics.json.

The folds themselves are trained and scored in crossval.py.
"""

import json
import os
from dataclasses import replace

from ..classifier import MaskClassifier
from . import export, quantize
from .classifier_torch import TorchNet
from .crossval import (
    MIN_FACE,
    PREDICTIONS,
    PREDICTIONS_INT8,
    SCENES,
    compare,
    detector_unseen_photos,
    format_compare,
    format_report,
    report,
    write_predictions,
)
from .data import (
    ImageCache,
    group_near_duplicates,
    load_datasets,
    load_samples,
    save_split,
    stem_of,
)
from .folds import fold_of, load_folds


def quantize_folds(run, log=print):
    """Export and quantize each fold's checkpoint (calibrated on that fold's training photos),
    and score the int8 copy on the fold's held-out photos, as the node would run it.
    """
    folds_data = load_folds(os.path.join(run, "folds.json"))
    _, samples = load_datasets(folds_data["datasets"])
    images = ImageCache("" if len(folds_data["datasets"]) > 1 else folds_data["datasets"][0])
    fold = fold_of(samples, folds_data)
    for k in range(folds_data["k"]):
        fold_out = os.path.join(run, f"fold{k}")
        pt, split = os.path.join(fold_out, "last.pt"), os.path.join(fold_out, "split.json")
        if not os.path.isfile(pt):
            continue
        for tool, argv in ((export, ["--model", pt, "--split", split]),
                           (quantize, ["--model", pt, "--split", split, "--what", "classifier"])):
            if tool.main(argv) != 0:
                raise ValueError(f"{tool.__name__.rsplit('.', 1)[-1]} failed for {pt}")
        int8 = os.path.join(fold_out, "last_int8.onnx")
        align = bool(TorchNet(pt, "cpu").meta.get("args", {}).get("align"))
        held = [s for s, f in zip(samples, fold) if f == k]
        write_predictions(os.path.join(fold_out, PREDICTIONS_INT8), k, held, images,
                          MaskClassifier(int8), align)
        log(f"fold {k}: int8 copy scored on {len({s.image for s in held})} photos")


def print_folds(run, against=None, min_face=MIN_FACE, bootstrap=1000, seed=0, int8=False):
    """``evaluate --folds RUN [--against RUN] [--int8]``: the table of a cross-validation run,
    and its paired difference from another run on the same folds; both also go to
    RUN/cv_report.md. ``int8``: the folds' int8 copies (made first if missing) instead of
    their checkpoints.
    """
    file = PREDICTIONS_INT8 if int8 else PREDICTIONS
    if int8 and not all(os.path.isfile(os.path.join(run, d, file))
                        for d in os.listdir(run) if d.startswith("fold")
                        and os.path.isfile(os.path.join(run, d, PREDICTIONS))):
        quantize_folds(run)
    text = format_report(report(run, min_face, bootstrap, seed, file))
    if against:
        text += "\n\n" + format_compare(compare(run, against, min_face, bootstrap, seed, file),
                                        run, against)
    name = "cv_report_int8.md" if int8 else "cv_report.md"
    with open(os.path.join(run, name), "w") as f:
        f.write(text + "\n")
    print(text, flush=True)
    return text


# Training arguments that say where and how fast a run went, not what it learned.
NOT_RECIPE = ("out", "folds", "folds_file", "only_folds", "command", "no_progress", "threads",
              "device", "workers", "val_fraction", "split", "data")
CARD_NOTE = ("Cross-validated figures of the shipped classifier's recipe: each fold's model was "
             "trained on the other folds' photos and scored end to end (the shipped detector, "
             "the node's thresholds) on its own, unseen photos. The shipped model was then "
             "trained the same way on every photo of both datasets, so it is not scored on "
             "any of them here.")


def recipe_of(run):
    """The training arguments of a cross-validation run's folds that make its recipe."""
    for name in sorted(os.listdir(run)):
        pt = os.path.join(run, name, "last.pt")
        if name.startswith("fold") and os.path.isfile(pt):
            args = TorchNet(pt, "cpu").meta.get("args", {})
            return {k: v for k, v in sorted(args.items()) if k not in NOT_RECIPE}
    raise ValueError(f"{run} holds no fold<k>/last.pt")


# The face detector's figures that do not depend on the classifier.
DETECTOR_KEYS = ("name", "precision", "face_confidence", "large_face_confidence", "min_face_size",
                 "recall_iou_0.3", "recall_iou_0.5", "false_detections_per_image", "face_ap50")


def detector_unseen_split(path, scenes):
    """Write a split file whose validation side is the face_mask_scenes photos that the
    shipped detector was not fine-tuned on (:func:`detector_unseen_photos`).
    """
    _, samples = load_samples(scenes)
    samples = group_near_duplicates([replace(s, source=SCENES) for s in samples],
                                    ImageCache(scenes))
    unseen = detector_unseen_photos(samples, ImageCache(scenes))
    val = {s.group for s in samples if stem_of(s.image) in unseen}
    save_split(path, scenes, "voc", samples, [], sorted(val), 0, 0.2)
    return len(unseen)


def detector_figures(scenes, out, evaluate_main):
    """The shipped detector (at the node's settings) on the face_mask_scenes photos it was
    not fine-tuned on, by ``evaluate_main`` (evaluate.main, passed in because evaluate is the
    module that calls this one): the figures of :data:`DETECTOR_KEYS`.
    """
    os.makedirs(out, exist_ok=True)
    split = os.path.join(out, "detector_unseen_split.json")
    detector_unseen_split(split, scenes)
    if evaluate_main(["--split", split, "--subset", "val", "--detectors", "centerface",
                      "--timing-frames", "0", "--bootstrap", "0", "--out", out]) != 0:
        raise ValueError("evaluate failed on the detector's unseen photos")
    with open(os.path.join(out, "metrics.json")) as f:
        e2e = json.load(f)["end_to_end"]
    return {"photos": f"the {SCENES} photos the shipped detector was not fine-tuned on",
            **{k: e2e[k] for k in DETECTOR_KEYS}}


def write_card(run, path, evaluate_main, against=None, min_face=MIN_FACE, bootstrap=1000,
               seed=0):
    """``evaluate --folds RUN --card models/metrics.json``: the figures a shipped classifier
    publishes, all from cross-validation: its recipe, the folds' tables for the checkpoints
    and for their int8 copies (what the node runs), and the paired difference of the int8
    copies from another recipe (``against``) on the same folds. ``evaluate_main``: see
    :func:`detector_figures`.
    """
    print_folds(run, None, min_face, bootstrap, seed, int8=True)   # makes the int8 copies
    card = {"note": CARD_NOTE, "recipe": recipe_of(run),
            "checkpoint": report(run, min_face, bootstrap, seed, PREDICTIONS),
            "int8": report(run, min_face, bootstrap, seed, PREDICTIONS_INT8)}
    if against:
        if not all(os.path.isfile(os.path.join(against, d, PREDICTIONS_INT8))
                   for d in os.listdir(against) if d.startswith("fold")
                   and os.path.isfile(os.path.join(against, d, PREDICTIONS))):
            quantize_folds(against)
        card["against"] = {
            "run": os.path.abspath(against), "recipe": recipe_of(against),
            "int8_difference": compare(run, against, min_face, bootstrap, seed,
                                       PREDICTIONS_INT8)}
    datasets = load_folds(os.path.join(run, "folds.json"))["datasets"]
    scenes = [d for d in datasets if os.path.basename(os.path.normpath(d)) == SCENES]
    if scenes:
        card["detector"] = detector_figures(scenes[0], os.path.join(run, "detector_eval"),
                                            evaluate_main)
    with open(path, "w") as f:
        json.dump(card, f, indent=1)
    print(f"wrote {path}", flush=True)
    return card
