"""Training crops: labelled faces cut as the node cuts them, augmented, class-balanced.

A labelled face that the detector found (its box matched at IoU >= 0.3) carries the
detector's box and landmarks, so that training can cut the crop aligned on the landmarks
(``align``), as the node does.
"""

from collections import Counter

import numpy as np
import torch

from ..crops import crop_aligned, crop_face, whole_box
from .augment import augmented_crop, photometric, similarity_jitter


class CropDataset(torch.utils.data.Dataset):
    """Augmented training crops, as (BGR crop, label).

    ``matches``: {sample: (detector box, landmarks)} (:func:`detector_matches`). With
    ``align``, a found face with landmarks is cut aligned on them (slightly jittered), as
    the node would cut it.
    """

    def __init__(self, samples, images, size, margin, seed, matches=None, align=False):
        self.samples, self.images, self.size, self.margin = samples, images, size, margin
        self.matches = matches or {}
        self.align = align
        self.rng = np.random.default_rng(seed)

    def __len__(self):
        return len(self.samples)

    def _aligned(self, image, box, landmarks):
        crop, _ = crop_aligned(image, box, landmarks, self.size, self.margin,
                               similarity_jitter(self.size, self.rng))
        return photometric(crop, self.rng)

    def __getitem__(self, i):
        s = self.samples[i]
        image = self.images[s.image]
        match = self.matches.get(s)
        if match is not None and self.align and match[1] is not None:
            return self._aligned(image, match[0], match[1]), s.label
        return augmented_crop(image, s.box, self.size, self.margin, self.rng), s.label


def plain_crop(image, sample, size, margin, match=None, align=False):
    """A face's evaluation crop, cut as the node cuts it: aligned on the detector's landmarks
    where ``align`` and there are some, else from ``match``'s box or the labelled box.
    """
    if match is not None:
        if align:
            return crop_aligned(image, match[0], match[1], size, margin)[0]
        return crop_face(image, match[0], size, margin)
    return crop_face(image, sample.box or whole_box(image), size, margin)


def seed_worker(worker_id):
    """Give each data-loading process its own augmentation stream. Each worker holds a copy of
    the dataset, and so of its generator: without this, they would all cut the same crops.
    torch seeds every worker differently, from the run's seed, at each epoch.
    """
    info = torch.utils.data.get_worker_info()
    info.dataset.rng = np.random.default_rng(torch.initial_seed() % 2 ** 63)


def make_sampler(labels, balance, generator):
    """Class-balanced sampling of the faces (``labels``): a face of a class of n faces is drawn
    with weight 1, 1/sqrt(n) or 1/n (``balance``); one epoch is as many draws as faces.
    """
    counts = Counter(labels)
    power = {"none": 0.0, "sqrt": 0.5, "full": 1.0}[balance]
    weights = [counts[y] ** -power for y in labels]
    return torch.utils.data.WeightedRandomSampler(
        torch.tensor(weights, dtype=torch.double), num_samples=len(labels), replacement=True,
        generator=generator)
