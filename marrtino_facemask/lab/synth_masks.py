"""Synthetic ``mask_weared_incorrect`` faces for training.

A real mask, cut from a ``with_mask`` training face, is pasted below the nose (or on the chin)
of a ``without_mask`` training face, so that the nose, and sometimes the mouth, stays bare.
MaskedFace-Net built its incorrectly-masked faces the same way. CenterFace's five landmarks
(eyes, nose tip, mouth corners) place the mask on both faces.

No library does this (the landmark-based paste is the method itself), hence the code here.
Everything is numpy/OpenCV and seeded through the caller's ``numpy.random.Generator``.
"""

from dataclasses import dataclass

import cv2
import numpy as np

from ..crops import square_box

# Landmark order of faces.Face.landmarks: (x, y) pairs.
LEFT_EYE, RIGHT_EYE, NOSE, MOUTH_LEFT, MOUTH_RIGHT = range(5)
MIN_SOURCE_SIDE = 20    # px (longer side): smaller masks are a few blurred pixels
MIN_TARGET_SIDE = 16


def _points(landmarks):
    return np.asarray(landmarks, np.float32).reshape(5, 2)


def plausible_landmarks(box, landmarks):
    """True when eyes lie above the nose tip, the nose above the mouth, all inside the box
    (loosely): landmarks of turned or tiny faces can be far off, and such faces are skipped.
    """
    if landmarks is None:
        return False
    p = _points(landmarks)
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    inside = np.all((p[:, 0] > x0 - 0.1 * w) & (p[:, 0] < x1 + 0.1 * w)
                    & (p[:, 1] > y0 - 0.1 * h) & (p[:, 1] < y1 + 0.1 * h))
    eye_y = p[[LEFT_EYE, RIGHT_EYE], 1].mean()
    mouth_y = p[[MOUTH_LEFT, MOUTH_RIGHT], 1].mean()
    return bool(inside and eye_y < p[NOSE, 1] < mouth_y < y1)


def u_shape_alpha(height, width, feather):
    """Alpha (float32, 0..1) of a mask seen from the front: a half ellipse hanging from the
    top edge, softened by ``feather`` px.
    """
    alpha = np.zeros((height, width), np.float32)
    cv2.ellipse(alpha, (width // 2, 0), (max(width // 2, 1), max(height - 1, 1)), 0, 0, 180,
                1.0, -1)
    if feather > 0:
        k = 2 * int(feather) + 1
        alpha = cv2.GaussianBlur(alpha, (k, k), 0)
    return alpha


@dataclass
class MaskPatch:
    """The lower face of a ``with_mask`` face: from the nose bridge down to the chin."""

    bgr: np.ndarray
    alpha: np.ndarray


def cut_mask(image, box, landmarks):
    """The mask of a ``with_mask`` face as a :class:`MaskPatch`, or None when the face is too
    small or its landmarks are implausible.
    """
    if max(box[2] - box[0], box[3] - box[1]) < MIN_SOURCE_SIDE or \
            not plausible_landmarks(box, landmarks):
        return None
    p = _points(landmarks)
    x0, _, x1, y1 = box
    eye_y = p[[LEFT_EYE, RIGHT_EYE], 1].mean()
    top = eye_y + 0.4 * (p[NOSE, 1] - eye_y)   # a worn mask's upper edge: the nose bridge
    w = x1 - x0
    left, right = int(round(x0 + 0.04 * w)), int(round(x1 - 0.04 * w))
    top, bottom = int(round(top)), int(round(y1))
    height, width = image.shape[:2]
    left, right = max(left, 0), min(right, width)
    top, bottom = max(top, 0), min(bottom, height)
    if right - left < 8 or bottom - top < 6:
        return None
    bgr = image[top:bottom, left:right].copy()
    return MaskPatch(bgr, u_shape_alpha(bottom - top, right - left, 0))


# of the synthetic masks, the fraction that sits on the chin (nose and mouth bare), by
# ``train --synth-placement``; the others start between the nose tip and the mouth
CHIN_FRACTIONS = {"mixed": 0.25, "chin": 1.0, "below-nose": 0.0}


def paste_below_nose(image, box, landmarks, patch, rng, chin_fraction=0.25):
    """A copy of the region around ``box`` with ``patch`` worn wrongly, and the box in that
    copy's coordinates.

    A fraction ``chin_fraction`` of the masks sit on the chin (nose and mouth bare); the
    others start between the nose tip and the mouth (nose bare). Width, height and
    brightness vary at random.
    """
    p = _points(landmarks)
    x0, y0, x1, y1 = (float(v) for v in box)
    w, h = x1 - x0, y1 - y0
    # work on the square crop region (with room for the crop's margin and jitter), not the photo
    rx0, ry0, rx1, ry1 = square_box(box, 0.6)
    H, W = image.shape[:2]
    rx0, ry0, rx1, ry1 = max(rx0, 0), max(ry0, 0), min(rx1, W), min(ry1, H)
    region = image[ry0:ry1, rx0:rx1].astype(np.float32)

    nose_y = p[NOSE, 1]
    mouth = p[[MOUTH_LEFT, MOUTH_RIGHT]].mean(axis=0)
    if rng.random() >= chin_fraction:
        top = nose_y + rng.uniform(0.05, 0.5) * (mouth[1] - nose_y)
    else:
        top = mouth[1] + rng.uniform(0.15, 0.5) * max(y1 - mouth[1], 1.0)
    bottom = y1 + rng.uniform(0.0, 0.15) * h
    width = w * rng.uniform(0.85, 1.05)
    cx = 0.5 * mouth[0] + 0.5 * (x0 + x1) / 2 + rng.uniform(-0.04, 0.04) * w
    tx0, tx1 = int(round(cx - width / 2)) - rx0, int(round(cx + width / 2)) - rx0
    ty0, ty1 = int(round(top)) - ry0, int(round(bottom)) - ry0
    if tx1 - tx0 < 4 or ty1 - ty0 < 3:
        return image[ry0:ry1, rx0:rx1], (x0 - rx0, y0 - ry0, x1 - rx0, y1 - ry0)
    size = (tx1 - tx0, ty1 - ty0)
    feather = max(1, int(round(0.04 * size[0])))
    mask = cv2.resize(patch.bgr, size, interpolation=cv2.INTER_AREA).astype(np.float32)
    alpha = u_shape_alpha(size[1], size[0], feather)
    # light the mask like the face it is pasted on (mean brightness of the lower face)
    lx0, lx1 = max(tx0, 0), min(tx1, region.shape[1])
    ly0, ly1 = max(ty0, 0), min(ty1, region.shape[0])
    if lx1 <= lx0 or ly1 <= ly0:
        return image[ry0:ry1, rx0:rx1], (x0 - rx0, y0 - ry0, x1 - rx0, y1 - ry0)
    target_light = region[ly0:ly1, lx0:lx1].mean()
    gain = np.clip(target_light / max(mask.mean(), 1.0), 0.6, 1.4) * rng.uniform(0.9, 1.1)
    mask = mask * (0.5 + 0.5 * gain)
    # clip the pasted rectangle to the region
    m = mask[ly0 - ty0:ly1 - ty0, lx0 - tx0:lx1 - tx0]
    a = alpha[ly0 - ty0:ly1 - ty0, lx0 - tx0:lx1 - tx0, None]
    region[ly0:ly1, lx0:lx1] = a * m + (1 - a) * region[ly0:ly1, lx0:lx1]
    out = np.clip(region, 0, 255).astype(np.uint8)
    return out, (x0 - rx0, y0 - ry0, x1 - rx0, y1 - ry0)


class IncorrectMaskSynth:
    """Makes ``mask_weared_incorrect`` training faces: :meth:`sample` pastes a random mask
    from ``sources`` on target face ``i``.
    """

    def __init__(self, targets, sources, chin_fraction=CHIN_FRACTIONS["mixed"]):
        """``targets``: (image, box, landmarks) of ``without_mask`` faces; ``sources``: a list
        of :class:`MaskPatch`; ``chin_fraction``: see :func:`paste_below_nose`. Targets that
        are too small or badly landmarked are dropped.
        """
        self.chin_fraction = chin_fraction
        self.targets = [t for t in targets
                        if max(t[1][2] - t[1][0], t[1][3] - t[1][1]) >= MIN_TARGET_SIDE
                        and plausible_landmarks(t[1], t[2])]
        self.sources = list(sources)

    def __len__(self):
        return len(self.targets) if self.sources else 0

    def sample(self, i, images, rng):
        """(region, box): target ``i`` wearing a random source mask wrongly. ``images`` maps a
        target's image key to the photo.
        """
        image_key, box, landmarks = self.targets[i]
        patch = self.sources[int(rng.integers(len(self.sources)))]
        return paste_below_nose(images[image_key], box, landmarks, patch, rng,
                                self.chin_fraction)
