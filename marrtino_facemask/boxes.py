"""Box geometry shared by tracking, optical flow and the lab: IoU and one-to-one matching.

Boxes are (x_min, y_min, x_max, y_max) in pixels.
"""

import numpy as np
from scipy.optimize import linear_sum_assignment


def box_side(box):
    """The longer side of a box, in px."""
    return max(box[2] - box[0], box[3] - box[1])


def iou_matrix(a, b):
    """IoU of every box of ``a`` (N, 4) with every box of ``b`` (M, 4): (N, M)."""
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    ix = np.clip(np.minimum(a[:, None, 2], b[None, :, 2])
                 - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None)
    iy = np.clip(np.minimum(a[:, None, 3], b[None, :, 3])
                 - np.maximum(a[:, None, 1], b[None, :, 1]), 0, None)
    inter = ix * iy
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def match_boxes(gt_boxes, det_boxes, threshold):
    """One-to-one matching of labelled to detected boxes that maximises the summed IoU
    (scipy's Hungarian solver), keeping pairs with IoU >= ``threshold``: {gt index: det index}.
    """
    if len(gt_boxes) == 0 or len(det_boxes) == 0:
        return {}
    ious = iou_matrix(gt_boxes, det_boxes)
    rows, cols = linear_sum_assignment(np.where(ious >= threshold, ious, 0.0), maximize=True)
    return {int(r): int(c) for r, c in zip(rows, cols) if ious[r, c] >= threshold}
