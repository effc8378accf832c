"""Training-time augmentation of face crops (numpy/OpenCV, seeded)."""

import cv2
import numpy as np

from ..crops import crop_face, whole_box


def jitter_box(box, rng, scale=(0.85, 1.2), shift=0.1):
    """Move and rescale a face box the way a face detector's boxes differ from a labeller's."""
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    cx = (x0 + x1) / 2 + rng.uniform(-shift, shift) * w
    cy = (y0 + y1) / 2 + rng.uniform(-shift, shift) * h
    s = rng.uniform(*scale)
    aspect = rng.uniform(0.9, 1.1)
    w, h = max(w * s * aspect, 2.0), max(h * s / aspect, 2.0)
    return (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)


def similarity_jitter(size, rng, scale=(0.93, 1.07), shift=0.04, degrees=6.0):
    """A random 3x3 similarity about the centre of a ``size`` px crop: how much an aligned
    crop is moved in training (the landmarks are the detector's own, so less than a box).
    """
    m = cv2.getRotationMatrix2D((size / 2, size / 2), rng.uniform(-degrees, degrees),
                                rng.uniform(*scale))
    m[:, 2] += rng.uniform(-shift, shift, 2) * size
    return np.vstack([m, (0.0, 0.0, 1.0)])


def photometric(crop, rng, mono=0.1):
    """Flip, colour, low resolution, rotation and grey-scale (probability ``mono``), each at
    random.
    """
    size = crop.shape[0]
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    if rng.random() < 0.3:
        angle = rng.uniform(-12, 12)
        m = cv2.getRotationMatrix2D((size / 2, size / 2), angle, 1.0)
        crop = cv2.warpAffine(np.ascontiguousarray(crop), m, (size, size),
                              borderMode=cv2.BORDER_REPLICATE)
    if rng.random() < 0.35:  # faces are often tiny: train on blocky upscaled ones too
        low = int(rng.integers(12, max(13, size // 2)))
        crop = cv2.resize(cv2.resize(np.ascontiguousarray(crop), (low, low),
                                     interpolation=cv2.INTER_AREA),
                          (size, size), interpolation=cv2.INTER_LINEAR)
    hsv = cv2.cvtColor(np.ascontiguousarray(crop), cv2.COLOR_BGR2HSV).astype(np.float32)
    hsv[..., 0] = (hsv[..., 0] + rng.uniform(-8, 8)) % 180
    hsv[..., 1] *= rng.uniform(0.7, 1.3)
    hsv[..., 2] = hsv[..., 2] * rng.uniform(0.7, 1.3) + rng.uniform(-20, 20)
    crop = cv2.cvtColor(np.clip(hsv, 0, 255).astype(np.uint8), cv2.COLOR_HSV2BGR)
    if rng.random() < mono:  # mono cameras
        crop = cv2.cvtColor(cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
    return np.ascontiguousarray(crop)


def augmented_crop(image, box, size, margin, rng, scale=(0.85, 1.2), shift=0.1):
    """A training crop of ``box``: jittered (:func:`jitter_box`), cut as the node cuts it,
    then :func:`photometric`.
    """
    box = jitter_box(whole_box(image) if box is None else box, rng, scale, shift)
    return photometric(crop_face(image, box, size, margin), rng)
