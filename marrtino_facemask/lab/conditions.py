"""Camera conditions a robot meets, applied to labelled photos (``evaluate --conditions``).

The validation photos are press and street pictures: sharp, well lit, colour. A robot's
camera is not always so. Each condition here turns a BGR photo into what a robot's camera
might deliver of the same scene, so that ``evaluate`` can score the node's detector and
classifier on it. The strengths are those of a 640x480 frame (MARRtino's camera) and are
scaled to the photo's size, since the detector sees every photo at 640 px on its longer
side. Noise is seeded by the photo's name, so a run is reproducible.

- ``motion_blur``: a horizontal smear of 9 px (the robot turns, or a person walks by, at
  1/30 s exposure);
- ``defocus``: a Gaussian blur of sigma 1.5 px (a fixed-focus camera, a person too close);
- ``low_light``: a quarter of the light, with sensor noise (sigma 3 grey levels) on top;
- ``dark``: a tenth of the light, with sensor noise of sigma 2 (a dim room, fixed exposure);
- ``noise``: sensor noise of sigma 12 grey levels (high gain);
- ``jpeg``: JPEG quality 20 (a compressed stream over Wi-Fi);
- ``mono``: grey (a mono or infra-red camera);
- ``half_res``: half the resolution, scaled back up (a 320x240 camera).
"""

import zlib

import cv2
import numpy as np

REFERENCE_SIDE = 640   # strengths are given for a frame whose longer side is this


def _scale(bgr):
    return max(bgr.shape[:2]) / REFERENCE_SIDE


def _noisy(bgr, sigma, rng):
    noise = rng.normal(0.0, sigma, bgr.shape).astype(np.float32)
    return np.clip(bgr.astype(np.float32) + noise, 0, 255).astype(np.uint8)


def motion_blur(bgr, rng):
    length = max(3, int(round(9 * _scale(bgr))) | 1)
    kernel = np.full((1, length), 1.0 / length, np.float32)
    return cv2.filter2D(bgr, -1, kernel, borderType=cv2.BORDER_REFLECT)


def defocus(bgr, rng):
    return cv2.GaussianBlur(bgr, (0, 0), 1.5 * _scale(bgr))


def low_light(bgr, rng):
    return _noisy((bgr.astype(np.float32) * 0.25).astype(np.uint8), 3.0, rng)


def dark(bgr, rng):
    return _noisy((bgr.astype(np.float32) * 0.1).astype(np.uint8), 2.0, rng)


def noise(bgr, rng):
    return _noisy(bgr, 12.0, rng)


def jpeg(bgr, rng):
    ok, data = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, 20])
    return cv2.imdecode(data, cv2.IMREAD_COLOR)


def mono(bgr, rng):
    return cv2.cvtColor(cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)


def half_res(bgr, rng):
    height, width = bgr.shape[:2]
    small = cv2.resize(bgr, (max(1, width // 2), max(1, height // 2)),
                       interpolation=cv2.INTER_AREA)
    return cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR)


CONDITIONS = {f.__name__: f for f in (motion_blur, defocus, low_light, dark, noise, jpeg,
                                      mono, half_res)}


def parse_conditions(text):
    """Condition names from "motion_blur,mono" or "all"; unknown names raise ValueError."""
    names = [t.strip() for t in text.split(",") if t.strip()]
    if names == ["all"]:
        return list(CONDITIONS)
    unknown = [n for n in names if n not in CONDITIONS]
    if unknown or not names:
        raise ValueError(f"unknown condition '{(unknown or [text])[0]}' in --conditions: use "
                         f"all or some of {', '.join(CONDITIONS)}")
    return names


def apply(name, bgr, key, seed=0):
    """Photo ``bgr`` under condition ``name``; ``key`` (the photo's name) and ``seed`` fix
    its noise.
    """
    rng = np.random.default_rng([seed, zlib.crc32(key.encode())])
    return CONDITIONS[name](bgr, rng)


class ConditionImages:
    """An image source (like data.ImageCache) that serves each photo under one condition."""

    def __init__(self, images, name, seed=0):
        self.images, self.name, self.seed = images, name, seed
        self._cache = {}

    def __getitem__(self, rel):
        img = self._cache.get(rel)
        if img is None:
            img = self._cache[rel] = apply(self.name, self.images[rel], rel, self.seed)
        return img
