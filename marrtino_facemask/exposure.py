"""Dim frames brightened before the models see them.

Both models were trained on well-lit photos. In a dim frame (a corridor at night, a camera
with fixed exposure) the detector loses faces and the classifier mistakes masks. A frame
whose *white level*, the 99th percentile of its luma, is below ``min_white_level`` is
therefore scaled up so that its white level reaches ``min_white_level``, by at most
:data:`MAX_GAIN`. Frames at or above that level are left untouched (the same array comes
back), and the output level never falls as the input level rises, so a scene that slowly
darkens brightens smoothly, without a jump.

The default, 160, is below the white level of all 135 validation photos of our split (the
lowest is 180) and of 541 of the 547 training photos, so the photos that the models were
measured on are not changed, and a frame a quarter as bright as a typical one is lifted
back. On the validation photos dimmed to a quarter of the light (``evaluate --conditions
low_light``) it took mAP50 from 0.64 to 0.77 (README, "Under a robot's camera").

A linear gain keeps hue and contrast ratios; it also amplifies sensor noise, which the
models tolerate far better than darkness. OpenCV does the work: no copy unless a gain is
applied.
"""

import cv2
import numpy as np

DEFAULT_MIN_WHITE_LEVEL = 160
MAX_GAIN = 8.0
WHITE_PERCENTILE = 99
_STEP = 4   # the white level is read on about every 4th pixel of every 4th row


def check_min_white_level(value):
    """``value`` if it is a grey level 0..255, else ValueError saying what to use."""
    if (isinstance(value, bool) or not isinstance(value, (int, np.integer))
            or not 0 <= value <= 255):
        raise ValueError(f"min_white_level {value!r} is not a grey level: use an integer in "
                         "[0, 255] (0: never brighten)")
    return int(value)


def white_level(image):
    """The 99th percentile of ``image``'s luma (0..255), read on a 4x subsampled grid (0.1 ms
    for 640x480 on our CPU): fewer than 1 % of the pixels are brighter. ``image`` is BGR
    (H, W, 3) or grey (H, W) or (H, W, 1), uint8.
    """
    height, width = image.shape[:2]
    # a nearest-neighbour resize takes about the pixels of image[::4, ::4], 3 times faster
    sample = cv2.resize(image, (max(1, width // _STEP), max(1, height // _STEP)),
                        interpolation=cv2.INTER_NEAREST)
    if sample.ndim == 3 and sample.shape[2] == 3:
        sample = cv2.cvtColor(sample, cv2.COLOR_BGR2GRAY)
    hist = cv2.calcHist([sample], [0], None, [256], [0, 256]).ravel()
    cumulative = np.cumsum(hist)
    return int(np.searchsorted(cumulative, cumulative[-1] * WHITE_PERCENTILE / 100.0))


def gain_for(level, min_white_level=DEFAULT_MIN_WHITE_LEVEL, max_gain=MAX_GAIN):
    """The gain that lifts white level ``level`` to ``min_white_level`` (1.0: none)."""
    if min_white_level <= 0 or level >= min_white_level:
        return 1.0
    return min(max_gain, min_white_level / max(level, 1))


def brighten(image, min_white_level=DEFAULT_MIN_WHITE_LEVEL, max_gain=MAX_GAIN):
    """(frame, gain): ``image`` itself and 1.0 when it is bright enough (or
    ``min_white_level`` is 0), else a brightened copy (saturated at 255, same shape) and its
    gain. ``image`` is uint8, as every frame the node decodes.
    """
    if min_white_level <= 0:
        return image, 1.0
    if image.dtype != np.uint8:
        raise ValueError(f"brighten needs an 8-bit image, not {image.dtype}")
    gain = gain_for(white_level(image), min_white_level, max_gain)
    if gain == 1.0:
        return image, 1.0
    return cv2.convertScaleAbs(image, alpha=gain).reshape(image.shape), gain


class BrightenedImages:
    """An image source (like data.ImageCache) that serves each image as the node would see
    it, brightened by :func:`brighten`.
    """

    def __init__(self, images, min_white_level=DEFAULT_MIN_WHITE_LEVEL):
        self.images, self.min_white_level = images, min_white_level
        self._cache = {}

    def __getitem__(self, key):
        img = self._cache.get(key)
        if img is None:
            img = self._cache[key] = brighten(self.images[key], self.min_white_level)[0]
        return img
