"""Detection metrics on labelled face boxes: IoU, one-to-one matching, recall, VOC AP, and
their uncertainty (intervals by resampling the photos).

Boxes are (x_min, y_min, x_max, y_max) in pixels. A face's size is the longer side of its
labelled box.
"""

import numpy as np

from ..boxes import box_side, iou_matrix, match_boxes  # noqa: F401

# Size bins of the recall tables (px, longer side of the labelled box).
SIZE_EDGES = (0, 16, 24, 48, 96)


def size_bin(side):
    """The name of the size bin of a face whose longer side is ``side`` px."""
    for lo, hi in zip(SIZE_EDGES, SIZE_EDGES[1:]):
        if side < hi:
            return f"<{hi}" if lo == 0 else f"{lo}-{hi}"
    return f">={SIZE_EDGES[-1]}"


SIZE_BINS = tuple(size_bin(e) for e in SIZE_EDGES)


def voc_average_precision(scores, is_true_positive, num_labelled):
    """PASCAL VOC average precision with all-point interpolation (VOC 2010 and later).

    Neither torchmetrics nor pycocotools computes this variant: both use COCO's 101 recall
    points. The area under the monotone precision envelope is a few lines, so it is here.
    """
    if num_labelled == 0:
        return float("nan")
    order = np.argsort(-np.asarray(scores, np.float64), kind="stable")
    tp = np.asarray(is_true_positive, np.float64)[order]
    if tp.size == 0:
        return 0.0
    cum_tp = np.cumsum(tp)
    recall = cum_tp / num_labelled
    precision = cum_tp / np.arange(1, tp.size + 1)
    recall = np.concatenate([[0.0], recall, [1.0]])
    precision = np.concatenate([[0.0], precision, [0.0]])
    precision = np.maximum.accumulate(precision[::-1])[::-1]  # the monotone envelope
    steps = np.nonzero(recall[1:] != recall[:-1])[0]
    return float(np.sum((recall[steps + 1] - recall[steps]) * precision[steps + 1]))


def voc_true_positives(images, iou_threshold=0.5):
    """The VOC protocol: detections, highest score first, each take the unclaimed labelled box
    they overlap most; a detection whose best box is taken or overlaps < ``iou_threshold``
    is a false positive.

    ``images`` is a list of (labelled boxes (N, 4), detected boxes (M, 4), scores (M,)).
    Returns (scores, is_true_positive, number of labelled boxes) over all images.
    """
    all_scores, all_tp, num_labelled = [], [], 0
    for gt, det, scores in images:
        num_labelled += len(gt)
        det, scores = np.asarray(det, np.float64).reshape(-1, 4), np.asarray(scores, np.float64)
        tp = np.zeros(len(det), bool)
        if len(gt) and len(det):
            ious = iou_matrix(det, gt)
            claimed = np.zeros(len(gt), bool)
            for i in np.argsort(-scores, kind="stable"):
                j = int(np.argmax(ious[i]))
                if ious[i, j] >= iou_threshold and not claimed[j]:
                    claimed[j] = tp[i] = True
        all_scores.append(scores)
        all_tp.append(tp)
    return (np.concatenate(all_scores) if all_scores else np.zeros(0),
            np.concatenate(all_tp) if all_tp else np.zeros(0, bool), num_labelled)


def average_precision(images, iou_threshold=0.5):
    """VOC AP of one class over ``images`` (see :func:`voc_true_positives`)."""
    return voc_average_precision(*voc_true_positives(images, iou_threshold))


def recall_table(faces, found):
    """Recall by size bin and overall. ``faces`` are (box, label) pairs, ``found`` booleans."""
    table = {}
    for name in SIZE_BINS:
        hits = [f for (box, _), f in zip(faces, found) if size_bin(box_side(box)) == name]
        if hits:
            table[name] = {"faces": len(hits), "found": int(sum(hits)),
                           "recall": sum(hits) / len(hits)}
    table["all"] = {"faces": len(faces), "found": int(sum(found)),
                    "recall": sum(found) / len(faces) if faces else 0.0}
    return table


def photo_bootstrap(num_images, statistic, resamples=1000, seed=0, level=0.95):
    """A ``level`` interval (low, high) for ``statistic(indices)``, a metric computed on the
    photos at ``indices``, from ``resamples`` resamplings of the photos with replacement
    (scipy.stats.bootstrap, percentile method, seeded). Photos, not faces, are resampled:
    the faces of one photo (a crowd, one lighting) are not independent.
    """
    from scipy.stats import bootstrap
    if num_images < 2:
        value = statistic(np.arange(num_images))
        return float(value), float(value)
    res = bootstrap((np.arange(num_images),), statistic, n_resamples=resamples,
                    confidence_level=level, method="percentile", vectorized=False,
                    random_state=np.random.default_rng(seed))
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


class PerPhotoAP:
    """VOC AP of one class over any multiset of photos, for :func:`photo_bootstrap`. The VOC
    matching is done once per photo (it never crosses photos); ``ap(indices)`` then only
    pools the chosen photos' scored detections.
    """

    def __init__(self, images, iou_threshold=0.5):
        self.parts = [voc_true_positives([image], iou_threshold) for image in images]

    def ap(self, indices):
        parts = [self.parts[i] for i in indices]
        if not parts:
            return float("nan")
        return voc_average_precision(np.concatenate([p[0] for p in parts]),
                                     np.concatenate([p[1] for p in parts]),
                                     sum(p[2] for p in parts))
