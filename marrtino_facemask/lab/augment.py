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


def camera_degraded(image, box, rng):
    """The region around ``box`` as a robot's camera might deliver it, and the box in that
    region. One degradation at random, in the photo's own pixels (before the crop is scaled,
    as a camera degrades the frame, not the face crop): motion blur of 3 to 11 px at any
    angle, defocus (both capped by the face's size), a dark frame with sensor noise, sensor
    noise (high gain) or JPEG quality 10 to 50. ``evaluate --conditions`` measures the same
    kinds of degradation.
    """
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    height, width = image.shape[:2]
    # the crop's margin and the jitter stay well inside one face size around the box
    left, top = int(max(0, np.floor(x0 - w))), int(max(0, np.floor(y0 - h)))
    right, bottom = int(min(width, np.ceil(x1 + w))), int(min(height, np.ceil(y1 + h)))
    if right - left < 2 or bottom - top < 2:
        return image, box
    region = image[top:bottom, left:right].astype(np.float32)
    # blur is capped by the face's size: a small face smeared over its own width is gone,
    # and the detector would not have found it
    side = max(w, h)
    kind = int(rng.integers(5))
    if kind == 0:
        length = int(rng.integers(3, int(np.clip(side / 3, 3, 11)) + 1))
        kernel = np.zeros((length, length), np.float32)
        kernel[length // 2] = 1.0 / length
        rotation = cv2.getRotationMatrix2D(((length - 1) / 2, (length - 1) / 2),
                                           rng.uniform(0, 180), 1.0)
        kernel = cv2.warpAffine(kernel, rotation, (length, length))
        region = cv2.filter2D(region, -1, kernel / max(kernel.sum(), 1e-6),
                              borderType=cv2.BORDER_REFLECT)
    elif kind == 1:
        region = cv2.GaussianBlur(region, (0, 0),
                                  rng.uniform(0.8, float(np.clip(side / 10, 0.8, 2.5))))
    elif kind == 2:
        region = region * rng.uniform(0.15, 0.5) + rng.normal(0, rng.uniform(1, 5), region.shape)
    elif kind == 3:
        region = region + rng.normal(0, rng.uniform(4, 16), region.shape)
    else:
        ok, data = cv2.imencode(".jpg", np.clip(region, 0, 255).astype(np.uint8),
                                [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(10, 51))])
        region = cv2.imdecode(data, cv2.IMREAD_COLOR).astype(np.float32)
    region = np.clip(region, 0, 255).astype(np.uint8)
    return region, (x0 - left, y0 - top, x1 - left, y1 - top)


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


def augmented_crop(image, box, size, margin, rng, scale=(0.85, 1.2), shift=0.1, camera=0.0):
    """A training crop of ``box``: jittered, then (with probability ``camera``) degraded as a
    robot's camera might (:func:`camera_degraded`; grey-scale then comes one time in four
    instead of one in ten), then :func:`photometric`. ``camera`` 0 draws nothing more from
    ``rng``, so the crops are those of the recipe before it.
    """
    box = jitter_box(whole_box(image) if box is None else box, rng, scale, shift)
    if camera > 0 and rng.random() < camera:
        image, box = camera_degraded(image, box, rng)
    return photometric(crop_face(image, box, size, margin), rng, 0.25 if camera > 0 else 0.1)
