"""Face crop geometry, shared by the node at run time and by training.

A face box is widened by ``margin`` (a fraction of its size on every side), made square
around its centre, cut out of the frame (parts outside the frame are filled by replicating
the border) and resized to ``size`` x ``size``.
"""

import cv2
import numpy as np

DEFAULT_MARGIN = 0.15


def whole_box(image):
    """The box of the whole image: how a face crop on its own (box None) is cut."""
    return (0, 0, image.shape[1], image.shape[0])


def square_box(box, margin=DEFAULT_MARGIN):
    """Return the square (x0, y0, x1, y1) integer box that a face crop is cut from.

    ``box`` is (x_min, y_min, x_max, y_max) in pixels. The result may extend past the
    frame; :func:`crop_face` pads it.
    """
    x_min, y_min, x_max, y_max = (float(v) for v in box)
    w, h = x_max - x_min, y_max - y_min
    if w <= 0 or h <= 0:
        raise ValueError(f"empty face box {tuple(box)}")
    side = max(w, h) * (1.0 + 2.0 * margin)
    cx, cy = (x_min + x_max) / 2.0, (y_min + y_max) / 2.0
    x0 = int(round(cx - side / 2.0))
    y0 = int(round(cy - side / 2.0))
    s = max(1, int(round(side)))
    return x0, y0, x0 + s, y0 + s


def crop_face(image, box, size, margin=DEFAULT_MARGIN):
    """Cut the square, margin-widened face crop of ``box`` from ``image`` at ``size`` px."""
    height, width = image.shape[:2]
    x0, y0, x1, y1 = square_box(box, margin)
    if box[2] <= 0 or box[3] <= 0 or box[0] >= width or box[1] >= height:
        raise ValueError(f"face box {tuple(box)} lies outside the {width}x{height} image")
    cx0, cy0 = max(x0, 0), max(y0, 0)
    cx1, cy1 = min(x1, width), min(y1, height)
    if cx1 <= cx0 or cy1 <= cy0:
        raise ValueError(f"face box {tuple(box)} lies outside the {width}x{height} image")
    crop = image[cy0:cy1, cx0:cx1]
    pads = (cy0 - y0, y1 - cy1, cx0 - x0, x1 - cx1)
    if any(pads):
        crop = cv2.copyMakeBorder(crop, *pads, cv2.BORDER_REPLICATE)
    side = crop.shape[0]
    interpolation = cv2.INTER_AREA if side > size else cv2.INTER_LINEAR
    crop = cv2.resize(crop, (size, size), interpolation=interpolation)
    return np.ascontiguousarray(crop)


# Where CenterFace's five landmarks (left eye, right eye, nose tip, left and right mouth
# corners, as seen) sit in a face crop of side 1: the median over 3,964 faces of at least
# 24 px that CenterFace found in our two datasets, measured in the square box crop above
# (margin 0.15) and made symmetric. An aligned crop therefore covers the same part of the
# face as a box crop does on average.
CANONICAL_LANDMARKS = ((0.347, 0.344), (0.653, 0.344), (0.5, 0.497), (0.38, 0.65), (0.62, 0.65))
# An aligned crop whose scale differs from the box crop's by more than this factor comes
# from landmarks that do not fit the box (a profile, a hand over the face): the box crop is
# used instead.
MAX_ALIGN_SCALE_RATIO = 1.6


def alignment(landmarks, size):
    """The 2x3 similarity transform (rotation, uniform scale, shift) that takes five landmarks
    (x, y pairs in image pixels) to :data:`CANONICAL_LANDMARKS` in a ``size`` px crop (OpenCV's
    least-median fit, robust to one bad point), or None where it cannot be fitted.
    """
    src = np.asarray(landmarks, np.float32).reshape(5, 2)
    if not np.all(np.isfinite(src)):
        return None
    dst = np.asarray(CANONICAL_LANDMARKS, np.float32) * size
    m, _ = cv2.estimateAffinePartial2D(src, dst, method=cv2.LMEDS)
    return m


def crop_aligned(image, box, landmarks, size, margin=DEFAULT_MARGIN, warp=None):
    """The face crop of ``box`` aligned on its five ``landmarks`` (see :func:`alignment`), or
    the box crop (:func:`crop_face`) where the landmarks are missing or do not fit the box.
    ``warp``: a 3x3 matrix applied after the alignment, in crop pixels (training's jitter).
    Returns (crop, whether it is aligned).
    """
    m = None if landmarks is None else alignment(landmarks, size)
    if m is not None:
        scale = float(np.sqrt(abs(np.linalg.det(m[:, :2]))))
        box_scale = size / (max(box[2] - box[0], box[3] - box[1]) * (1.0 + 2.0 * margin))
        if not 1 / MAX_ALIGN_SCALE_RATIO <= scale / box_scale <= MAX_ALIGN_SCALE_RATIO:
            m = None
    if m is None:
        return crop_face(image, box, size, margin), False
    if warp is not None:
        m = (np.asarray(warp, np.float64) @ np.vstack([m, (0.0, 0.0, 1.0)]))[:2]
        scale = float(np.sqrt(abs(np.linalg.det(m[:, :2]))))
    if scale < 0.67:
        # a big face: shrink the region the crop comes from with INTER_AREA first, as the
        # box crop does, so that the warp below does not alias
        inv = cv2.invertAffineTransform(m)
        corners = inv @ np.array([[0, size, 0, size], [0, 0, size, size], [1, 1, 1, 1]], float)
        height, width = image.shape[:2]
        x0, y0 = (int(np.clip(np.floor(v), 0, lim - 1)) for v, lim in
                  ((corners[0].min(), width), (corners[1].min(), height)))
        x1, y1 = (int(np.clip(np.ceil(v), lo + 1, lim)) for v, lo, lim in
                  ((corners[0].max(), x0, width), (corners[1].max(), y0, height)))
        f = scale * 1.5
        region = image[y0:y1, x0:x1]
        small = cv2.resize(region, (max(1, round(region.shape[1] * f)),
                                    max(1, round(region.shape[0] * f))),
                           interpolation=cv2.INTER_AREA)
        fx, fy = small.shape[1] / region.shape[1], small.shape[0] / region.shape[0]
        m = np.hstack([m[:, :2] / (fx, fy), m[:, :2] @ np.array([[x0], [y0]]) + m[:, 2:]])
        image = small
    crop = cv2.warpAffine(image, m, (size, size), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)
    return np.ascontiguousarray(crop), True
