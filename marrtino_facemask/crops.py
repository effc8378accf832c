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
