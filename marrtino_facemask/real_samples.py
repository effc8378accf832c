"""Seeded choices of real faces and frames: the crops of ``export``'s parity check and the
calibration data of ``quantize``.

From the dataset, a side (train or val) of a checkpoint's split; without the dataset, the
astronaut of scikit-image (public domain, the test suite's face). Nothing here is written to
disk.
"""

import cv2
import numpy as np

from .crops import crop_face
from .data import DatasetError, ImageCache
from .detection_metrics import box_side

FRAME_SIZE = (640, 480)   # MARRtino's camera


def split_side(data, split, subset, train_args):
    """(root, samples) of one side (``train``/``val``/``all``) of a split: ``split`` (a
    split.json), else the split recorded in the checkpoint's training arguments."""
    from types import SimpleNamespace

    from .evaluate import select_samples
    return select_samples(SimpleNamespace(data=data, split=split, subset=subset), train_args)


def _choose(items, count, seed):
    """``count`` of ``items`` (all if fewer), chosen by a seeded generator, in their order."""
    if count <= 0 or count >= len(items):
        return list(items)
    keep = np.sort(np.random.default_rng(seed).choice(len(items), count, replace=False))
    return [items[i] for i in keep]


def dataset_face_crops(root, samples, input_size, margin, count, seed=0, min_side=8):
    """Up to ``count`` crops of labelled faces at least ``min_side`` px (longer side), cut as
    the node cuts them."""
    images = ImageCache(root)
    faces = [s for s in samples if s.box is not None and box_side(s.box) >= min_side]
    if not faces:
        raise DatasetError(f"{root}: no labelled faces of {min_side} px or more")
    return [crop_face(images[s.image], s.box, input_size, margin)
            for s in _choose(faces, count, seed)]


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
    detector, jittered the way detectors' boxes vary, and mirrored."""
    from skimage import data

    from .augment import jitter_box
    from .faces import make_face_detector
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
