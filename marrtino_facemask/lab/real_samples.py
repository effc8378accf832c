"""Seeded choices of real faces and frames, and the sides of a training run's split: the
photos that ``evaluate`` scores, the crops of ``export``'s parity check and the calibration
data of ``quantize``.

From the dataset, a side (train or val) of a checkpoint's split; without the dataset, the
astronaut of scikit-image (public domain, the test suite's face). Nothing here is written to
disk.
"""

import os

import cv2
import numpy as np

from ..crops import crop_aligned, crop_face
from ..detectors import make_face_detector
from .augment import jitter_box
from .data import (
    DatasetError,
    ImageCache,
    group_near_duplicates,
    load_datasets,
    load_samples,
    load_split,
    split_dict,
    split_groups,
    stem_of,
)
from .detection_metrics import box_side
from .detections import detector_matches

FRAME_SIZE = (640, 480)   # MARRtino's camera
SUBSETS = ("val", "train", "all")


def recompute_split(root, samples, train_args):
    """The split a training run made: the split file it was given, else its recorded seed and
    validation fraction (of one dataset: a split of several is read from its split.json).
    """
    if train_args.get("split"):
        if not os.path.isfile(train_args["split"]):
            raise DatasetError(f"the checkpoint was trained on the split {train_args['split']}, "
                               "which is not here: pass --split with that file")
        return load_split(train_args["split"])
    if "seed" not in train_args or "val_fraction" not in train_args:
        raise DatasetError("the checkpoint records no training split: pass --split split.json "
                           "or --subset all")
    data = train_args.get("data")
    if isinstance(data, list) and len(data) > 1:
        raise DatasetError(f"the checkpoint was trained on {len(data)} datasets together: pass "
                           "--split with the split.json of its training run, or --subset all")
    grouped = group_near_duplicates(samples, ImageCache(root))
    train_groups, val_groups = split_groups(grouped, train_args["val_fraction"],
                                            train_args["seed"])
    return split_dict(root, "", grouped, train_groups, val_groups, train_args["seed"],
                      train_args["val_fraction"])


def split_side(data, split, subset, train_args):
    """(root, samples) of one side (``train``/``val``/``all``; None: val with a ``split``,
    else all) of a split: ``split`` (a split.json; its own datasets unless ``data`` is
    given), else the split recorded in the checkpoint's training arguments ``train_args``.
    ``root`` is the folder that the samples' image paths are relative to; "" for a split of
    several datasets, whose paths are absolute (data.load_datasets).
    """
    if split:
        saved = load_split(split)
        roots = [data] if data else saved["dataset"]
        roots = [roots] if isinstance(roots, str) else list(roots)
        root = roots[0] if len(roots) == 1 else ""
        _, samples = load_datasets(roots)
    elif data:
        root = data
        _, samples = load_samples(root)
        saved = recompute_split(root, samples, train_args) if subset in ("val", "train") else None
    else:
        raise DatasetError("give --data DIR or --split split.json")
    subset = subset or ("val" if split else "all")
    if subset != "all":
        stems = {stem_of(p) for p in saved[subset]}   # by stem: a split of a re-encoded copy
        samples = [s for s in samples if stem_of(s.image) in stems]
    if not samples:
        raise DatasetError(f"no faces on the {subset} side" if subset != "all"
                           else "no faces to evaluate")
    return root, samples


def _choose(items, count, seed):
    """``count`` of ``items`` (all if fewer), chosen by a seeded generator, in their order."""
    if count <= 0 or count >= len(items):
        return list(items)
    keep = np.sort(np.random.default_rng(seed).choice(len(items), count, replace=False))
    return [items[i] for i in keep]


def dataset_face_crops(root, samples, input_size, margin, count, seed=0, min_side=8,
                       align=False):
    """Up to ``count`` crops of labelled faces at least ``min_side`` px (longer side), cut as
    the node cuts them: with ``align``, aligned on the landmarks of the shipped detector's
    box for the face (box crops for the faces it misses).
    """
    images = ImageCache(root)
    faces = [s for s in samples if s.box is not None and box_side(s.box) >= min_side]
    if not faces:
        raise DatasetError(f"{root}: no labelled faces of {min_side} px or more")
    chosen = _choose(faces, count, seed)
    found = detector_matches(chosen, images) if align else {}
    return [crop_aligned(images[s.image], *found[s], input_size, margin)[0] if s in found
            else crop_face(images[s.image], s.box, input_size, margin) for s in chosen]


def dataset_frames(root, samples, count, seed=0, size=FRAME_SIZE):
    """Up to ``count`` photos resized to the camera's 640x480."""
    images = ImageCache(root)
    photos = sorted({s.image for s in samples})
    if not photos:
        raise DatasetError(f"{root}: no photos")
    return [cv2.resize(images[rel], size, interpolation=cv2.INTER_LINEAR)
            for rel in _choose(photos, count, seed)]


def astronaut_face_crops(input_size, margin, count, seed=0):
    """Crops of scikit-image's astronaut (public domain), the face found by the default
    detector, jittered the way detectors' boxes vary, and mirrored.
    """
    from skimage import data  # scikit-image: only for this fallback
    image = np.ascontiguousarray(data.astronaut()[..., ::-1])
    faces = make_face_detector().detect(image)
    if not faces:
        raise DatasetError("the default face detector found no face in the astronaut picture")
    rng = np.random.default_rng(seed)
    crops = []
    for i in range(max(count, 1)):
        source = image if i % 2 == 0 else np.ascontiguousarray(image[:, ::-1])
        box = faces[0].box if i % 2 == 0 else (image.shape[1] - faces[0].x_max, faces[0].y_min,
                                               image.shape[1] - faces[0].x_min, faces[0].y_max)
        if i >= 2:
            box = jitter_box(box, rng)
        crops.append(crop_face(source, box, input_size, margin))
    return crops
