"""Cross-validation: fold models scored end to end on the photos they never saw.

For each fold, the classifier trained on the other folds classifies what the node would
publish on the fold's photos: the shipped detector's boxes (detections.py, the node's
thresholds), cut as the node cuts them, on the photos as the node sees them (dim ones
brightened). Its answers go to ``fold<k>/predictions.json``; :func:`report` reads all folds'
and gives, pooled and per dataset:

- classification of the labelled faces >= ``min_face`` px (longer side) that the detector
  finds at IoU >= 0.3: accuracy, macro recall and each class's recall;
- mAP50 end to end (VOC AP over all labelled faces, confidence = face score x class
  probability). On face_mask_scenes it is also given on the photos that the shipped
  detector was not fine-tuned on (``unseen``); elsewhere faces are not all labelled, so
  the figure is low by the unlabelled faces found;
- each figure's mean and standard deviation over the folds, and its value on all the folds'
  photos together (pooled), with a 95 % interval from resampling the photos.

:func:`compare` gives the paired difference of two runs on the same folds, with a paired
95 % interval from resampling the photos (both runs resampled together).
"""

import json
import os

import numpy as np

from ..boxes import box_side, match_boxes
from ..classifier import MaskClassifier
from ..exposure import DEFAULT_MIN_WHITE_LEVEL, brighten
from ..labels import CLASS_NAMES
from .classifier_torch import TorchNet
from .crop_dataset import plain_crop
from .data import group_near_duplicates, save_split, split_groups, stem_of
from .detection_metrics import PerPhotoAP
from .detections import detector_matches, node_keeps, scan_photos
from .folds import assign_folds, fold_of, load_folds, save_folds

MIN_FACE = 24
SCENES = "face_mask_scenes"
PREDICTIONS = "predictions.json"            # the fold's checkpoint, as training left it
PREDICTIONS_INT8 = "predictions_int8.json"  # its int8 ONNX copy, as the node runs it
# The figures of the table, in its order: (key, label).
FIGURES = (("macro_recall", "macro recall"),
           ("recall_mask_weared_incorrect", "mask_weared_incorrect recall"),
           ("recall_without_mask", "without_mask recall"),
           ("recall_with_mask", "with_mask recall"),
           ("accuracy", "accuracy"),
           ("map50", "mAP50 end to end"),
           ("map50_unseen", "mAP50, photos the detector never saw"))


# ---------------------------------------------------------------- training the folds
def run_folds(args, samples, images, margin, out, fit):
    """Train (``fit``, train.fit) and score every fold of ``args.folds``; print the table."""
    if args.folds_file:
        folds_data = load_folds(args.folds_file)
        if folds_data["k"] != args.folds:
            raise ValueError(f"{args.folds_file} has {folds_data['k']} folds, not {args.folds}")
        save_path = os.path.join(out, "folds.json")
        if os.path.abspath(args.folds_file) != os.path.abspath(save_path):
            with open(save_path, "w") as f:
                json.dump(folds_data, f, indent=1, sort_keys=True)
    else:
        folds_data = save_folds(os.path.join(out, "folds.json"), samples,
                                assign_folds(samples, args.folds, args.seed), args.folds,
                                args.seed, args.data)
    fold = fold_of(samples, folds_data)
    matches = detector_matches(samples, images)
    for k in args.only_folds if args.only_folds is not None else range(args.folds):
        fold_out = os.path.join(out, f"fold{k}")
        os.makedirs(fold_out, exist_ok=True)
        train_samples = [s for s, f in zip(samples, fold) if f != k
                         and s.min_side(images[s.image].shape) >= args.min_train_face]
        held = [s for s, f in zip(samples, fold) if f == k]
        save_split(os.path.join(fold_out, "split.json"), args.data, "voc",
                   train_samples + held, [s.group for s in train_samples],
                   [s.group for s in held], args.seed, 1 / args.folds)
        print(f"fold {k}: train {len(train_samples)} faces, score "
              f"{len({s.image for s in held})} photos", flush=True)
        model, _ = fit(train_samples, images, args, margin, fold_out, matches,
                       log=lambda text: print(f"fold {k}: {text}", flush=True))
        pt = os.path.join(fold_out, "last.pt")
        write_predictions(os.path.join(fold_out, PREDICTIONS), k, held, images,
                          MaskClassifier(pt, net=TorchNet(pt, args.device)), args.align)
    table = report(out)
    print(format_report(table), flush=True)
    return out


def write_predictions(path, fold, held, images, classifier, align,
                      min_white_level=DEFAULT_MIN_WHITE_LEVEL):
    """Score ``classifier`` (a MaskClassifier) end to end on the photos of ``held``; write
    what :func:`report` reads.
    """
    by_image = {}
    for s in held:
        by_image.setdefault(s.image, []).append(s)
    scans = scan_photos(sorted(by_image), images)
    order = [list(classifier.class_names).index(n) for n in CLASS_NAMES]
    photos = []
    for image, faces in sorted(by_image.items()):
        seen = brighten(images[image], min_white_level)[0]
        dets = [d for d in scans[image] if box_side(d[0]) >= 8]     # min_face_size
        crops = [plain_crop(seen, None, classifier.input_size, classifier.margin, d[0:3:2],
                            align) for d in dets]
        probs = np.asarray(classifier.predict(crops), np.float64).reshape(len(dets), -1)[:, order]
        published = [i for i, d in enumerate(dets) if node_keeps(d[0], d[1])]
        matched = match_boxes([f.box for f in faces], [dets[i][0] for i in published], 0.3)
        photos.append({
            "photo": stem_of(image), "source": faces[0].source, "fold": fold,
            "faces": [[f.label, list(f.box), published[matched[i]] if i in matched else -1]
                      for i, f in enumerate(faces)],
            "dets": [[list(d[0]), round(float(d[1]), 5), [round(float(p), 5) for p in pr]]
                     for d, pr in zip(dets, probs)]})
    with open(path, "w") as f:
        json.dump({"format": "marrtino_facemask.predictions", "fold": fold,
                   "classes": list(CLASS_NAMES), "photos": photos}, f)


def detector_unseen_photos(samples, images):
    """The face_mask_scenes photos that the shipped CenterFace was not fine-tuned on: the
    validation side of the split it was trained with (seed 0, a fifth of the photos, as
    `train` split face_mask_scenes on its own), as file stems.
    """
    scenes = [s for s in samples if s.source == SCENES]
    if not scenes:
        return set()
    grouped = group_near_duplicates(scenes, images)
    _, val_groups = split_groups(grouped, 0.2, 0)
    held = set(val_groups)
    return {stem_of(s.image) for s in grouped if s.group in held}


# ---------------------------------------------------------------- reading the folds
def load_predictions(run, file=None):
    file = file or PREDICTIONS
    photos = []
    for name in sorted(os.listdir(run)):
        path = os.path.join(run, name, file)
        if name.startswith("fold") and os.path.isfile(path):
            with open(path) as f:
                photos.extend(json.load(f)["photos"])
    if not photos:
        raise ValueError(f"{run} holds no fold<k>/{file}: run `train --folds` first"
                         + (", then `evaluate --folds RUN --int8`" if file != PREDICTIONS
                            else ""))
    return photos


class PhotoScores:
    """Per-photo pieces of every figure, so that any multiset of photos is scored fast."""

    def __init__(self, photos, unseen=(), min_face=MIN_FACE):
        n = len(CLASS_NAMES)
        self.photos = photos
        self.cm = np.zeros((len(photos), n, n), np.int64)
        class_images = {c: [] for c in range(n)}
        for i, ph in enumerate(photos):
            dets = ph["dets"]
            for label, box, det in ph["faces"]:
                if det >= 0 and box_side(box) >= min_face:
                    self.cm[i, label, int(np.argmax(dets[det][2]))] += 1
            for c in range(n):
                class_images[c].append(([b for lab, b, _ in ph["faces"] if lab == c],
                                        [d[0] for d in dets], [d[1] * d[2][c] for d in dets]))
        self.ap = [PerPhotoAP(class_images[c]) for c in range(n)]
        self.unseen = np.array([ph["source"] == SCENES and ph["photo"] in unseen
                                for ph in photos])

    def figures(self, idx):
        idx = np.asarray(idx, int)
        cm = self.cm[idx].sum(0)
        support = cm.sum(1)
        recall = np.divide(np.diag(cm), support, out=np.full(len(support), np.nan),
                           where=support > 0)
        out = {"accuracy": np.trace(cm) / max(cm.sum(), 1),
               "macro_recall": float(np.nanmean(recall)) if np.any(support) else np.nan,
               "faces": int(cm.sum())}
        for c, name in enumerate(CLASS_NAMES):
            out[f"recall_{name}"] = float(recall[c])
        out["map50"] = self._map(idx)
        seen = idx[self.unseen[idx]]
        out["map50_unseen"] = self._map(seen) if len(seen) else np.nan
        return out

    def _map(self, idx):
        values = [v for v in (a.ap(idx) for a in self.ap) if not np.isnan(v)]
        return float(np.mean(values)) if values else np.nan


def _groups(photos):
    sources = sorted({ph["source"] for ph in photos})
    return [("pooled", np.arange(len(photos)))] + [
        (s, np.array([i for i, ph in enumerate(photos) if ph["source"] == s])) for s in sources]


def resample(n, statistic, resamples=1000, seed=0):
    """``statistic(indices)`` (a dict of figures) on ``resamples`` resamplings of ``n``
    photos with replacement (seeded): a list of dicts. The percentile intervals are read
    from it by :func:`interval`. (scipy.stats.bootstrap scores one figure per call; one
    resampling here scores every figure of the table at once, which is 7 times cheaper.)
    """
    rng = np.random.default_rng(seed)
    return [statistic(rng.integers(0, n, n)) for _ in range(resamples)]


def interval(draws, key, level=0.95):
    values = np.array([d[key] for d in draws], float)
    values = values[np.isfinite(values)]
    if not len(values):
        return np.nan, np.nan
    return tuple(np.percentile(values, [50 * (1 - level), 100 - 50 * (1 - level)]))


def report(run, min_face=MIN_FACE, bootstrap=1000, seed=0, file=PREDICTIONS):
    """The table of a cross-validation run (see the module's docstring) as a dict; also
    written to ``<run>/cv_metrics.json`` (``cv_metrics_int8.json`` for the int8 copies).
    """
    photos = load_predictions(run, file)
    scores = PhotoScores(photos, _unseen_of(run), min_face)
    folds = np.array([ph["fold"] for ph in photos])
    table = {"run": os.path.abspath(run), "min_face": min_face, "folds": int(folds.max()) + 1,
             "photos": len(photos), "resamples": bootstrap,
             "classifier": "int8 ONNX" if file == PREDICTIONS_INT8 else "checkpoint (torch)",
             "groups": {}}
    for name, idx in _groups(photos):
        per_fold = [scores.figures(idx[folds[idx] == k]) for k in sorted(set(folds[idx]))]
        pooled = scores.figures(idx)
        draws = resample(len(idx), lambda j: scores.figures(idx[j]), bootstrap, seed)
        entry = {"photos": len(idx), "faces": pooled["faces"]}
        for key, _ in FIGURES:
            values = np.array([f[key] for f in per_fold], float)
            finite = np.isfinite(values).any()
            entry[key] = {"mean": float(np.nanmean(values)) if finite else None,
                          "std": float(np.nanstd(values)) if finite else None,
                          "pooled": _num(pooled[key]),
                          "ci95": [_num(v) for v in interval(draws, key)] if draws else None,
                          "per_fold": [_num(v) for v in values]}
        table["groups"][name] = entry
    name = "cv_metrics_int8.json" if file == PREDICTIONS_INT8 else "cv_metrics.json"
    with open(os.path.join(run, name), "w") as f:
        json.dump(table, f, indent=1)
    return table


def _num(v):
    return None if v is None or not np.isfinite(v) else float(v)


def _unseen_of(run):
    """The detector-unseen photos of a run, from its folds.json's face_mask_scenes."""
    from dataclasses import replace

    from .data import ImageCache, load_datasets
    data = load_folds(os.path.join(run, "folds.json"))
    scenes = [d for d in data["datasets"] if os.path.basename(os.path.normpath(d)) == SCENES]
    if not scenes or not os.path.isdir(scenes[0]):
        return set()
    _, samples = load_datasets(scenes[0])
    return detector_unseen_photos([replace(s, source=SCENES) for s in samples],
                                  ImageCache(scenes[0]))


def format_report(table):
    groups = list(table["groups"])
    lines = [f"Cross-validation ({table.get('classifier', 'checkpoint (torch)')}), "
             f"{table['folds']} folds, {table['photos']} photos; faces >= "
             f"{table['min_face']} px found by the detector. Each cell: mean ± std over the "
             "folds [all folds' photos pooled, 95 % interval]", "",
             "| figure | " + " | ".join(f"{g} ({table['groups'][g]['photos']} photos, "
                                         f"{table['groups'][g]['faces']} faces)" for g in groups)
             + " |", "|---" * (len(groups) + 1) + "|"]
    for key, label in FIGURES:
        cells = []
        for g in groups:
            v = table["groups"][g][key]
            if v["mean"] is None:
                cells.append("–")
                continue
            ci = v["ci95"] or (None, None)
            cells.append(f"{v['mean']:.3f} ± {v['std']:.3f} [{v['pooled']:.3f}"
                         + (f", {ci[0]:.3f}–{ci[1]:.3f}]" if ci[0] is not None else "]"))
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def compare(run, baseline, min_face=MIN_FACE, bootstrap=1000, seed=0, file=PREDICTIONS):
    """{group: {figure: (difference run - baseline on the pooled photos, 95 % interval)}}:
    both runs must hold the same photos in the same folds; each resampling of the photos
    scores both runs (a paired interval).
    """
    a, b = load_predictions(run, file), load_predictions(baseline, file)
    key_a = {(ph["source"], ph["photo"], ph["fold"]): i for i, ph in enumerate(a)}
    key_b = {(ph["source"], ph["photo"], ph["fold"]): i for i, ph in enumerate(b)}
    if set(key_a) != set(key_b):
        raise ValueError(f"{run} and {baseline} do not hold the same photos in the same folds: "
                         "train both with the same --folds-file")
    order = sorted(key_a)
    a = [a[key_a[k]] for k in order]
    b = [b[key_b[k]] for k in order]
    unseen = _unseen_of(run)
    sa, sb = PhotoScores(a, unseen, min_face), PhotoScores(b, unseen, min_face)

    def difference(idx):
        fa, fb = sa.figures(idx), sb.figures(idx)
        return {key: fa[key] - fb[key] for key, _ in FIGURES}

    out = {}
    for name, idx in _groups(a):
        whole = difference(idx)
        draws = resample(len(idx), lambda j: difference(idx[j]), bootstrap, seed)
        out[name] = {key: (_num(whole[key]), *(_num(v) for v in interval(draws, key)))
                     for key, _ in FIGURES}
    return out


def format_compare(diff, run, baseline):
    groups = list(diff)
    lines = [f"Paired difference {os.path.basename(os.path.normpath(run))} minus "
             f"{os.path.basename(os.path.normpath(baseline))} on the same photos [95 % interval]",
             "", "| figure | " + " | ".join(groups) + " |", "|---" * (len(groups) + 1) + "|"]
    for key, label in FIGURES:
        cells = [(f"{diff[g][key][0]:+.3f} [{diff[g][key][1]:+.3f}, {diff[g][key][2]:+.3f}]"
                  if diff[g][key][0] is not None else "–") for g in groups]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
