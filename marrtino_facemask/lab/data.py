"""Datasets: VOC scenes (images/ + annotations/) or a Kaggle-style folder of face crops.

Both become a list of :class:`FaceSample`; a sample's ``group`` is its split unit (a source
photo, merged with its near-duplicates) so that faces of one photo, and near-duplicate crops,
always land on the same side of the train/validation split.
"""

import json
import os
import random
import xml.etree.ElementTree as ET
from collections import Counter, defaultdict
from dataclasses import dataclass

import cv2
import numpy as np

from ..labels import CLASS_NAMES
from ..paths import list_images

SPLIT_FORMAT = "marrtino_facemask.split"


class DatasetError(ValueError):
    """A dataset folder that is not in one of the two supported layouts."""


@dataclass(frozen=True)
class FaceSample:
    image: str            # path relative to the dataset root
    box: tuple            # (x_min, y_min, x_max, y_max) in pixels; None = the whole image
    label: int            # index into the class names
    group: str = ""       # split unit
    source: str = ""      # the dataset's name (its folder's), when several are loaded

    def min_side(self, image_shape=None):
        if self.box is None:
            return min(image_shape[:2]) if image_shape is not None else 10 ** 9
        return min(self.box[2] - self.box[0], self.box[3] - self.box[1])

    def max_side(self, image_shape=None):
        """The face's size as the evaluation bins it: the longer side of its box."""
        if self.box is None:
            return max(image_shape[:2]) if image_shape is not None else 10 ** 9
        return max(self.box[2] - self.box[0], self.box[3] - self.box[1])


def detect_layout(root):
    if all(os.path.isdir(os.path.join(root, sub)) for sub in ("images", "annotations")):
        return "voc"
    if any(os.path.isdir(os.path.join(root, name)) for name in CLASS_NAMES):
        return "crops"
    raise DatasetError(
        f"{root} is neither VOC scenes (images/ + annotations/) nor a folder of crops "
        f"with sub-folders {', '.join(CLASS_NAMES)}")


def parse_voc(xml_path, class_names=CLASS_NAMES):
    """(filename, [(box, label_index), ...]) of one PASCAL VOC annotation file."""
    try:
        root = ET.parse(xml_path).getroot()
    except ET.ParseError as exc:
        raise DatasetError(f"{xml_path}: not valid XML ({exc})") from None
    filename = root.findtext("filename")
    objects = []
    for obj in root.iter("object"):
        name = (obj.findtext("name") or "").strip()
        if name not in class_names:
            raise DatasetError(f"{xml_path}: unknown class '{name}' (expected {class_names})")
        bb = obj.find("bndbox")
        try:
            box = tuple(int(round(float(bb.findtext(k))))
                        for k in ("xmin", "ymin", "xmax", "ymax"))
        except (AttributeError, TypeError, ValueError):
            raise DatasetError(f"{xml_path}: object '{name}' has no valid <bndbox> "
                               "(xmin, ymin, xmax, ymax)") from None
        if box[2] > box[0] and box[3] > box[1]:
            objects.append((box, class_names.index(name)))
    return filename, objects


def load_voc_samples(root, class_names=CLASS_NAMES):
    samples = []
    ann_dir = os.path.join(root, "annotations")
    for xml_name in sorted(os.listdir(ann_dir)):
        if not xml_name.endswith(".xml"):
            continue
        filename, objects = parse_voc(os.path.join(ann_dir, xml_name), class_names)
        stem = os.path.splitext(xml_name)[0]
        image = os.path.join("images", filename or f"{stem}.png")
        if not os.path.isfile(os.path.join(root, image)):
            matches = [f for f in os.listdir(os.path.join(root, "images"))
                       if os.path.splitext(f)[0] == stem]
            if not matches:
                raise DatasetError(f"{xml_name}: image {image} not found")
            image = os.path.join("images", matches[0])
        samples.extend(FaceSample(image, box, label, image) for box, label in objects)
    return samples


def load_crop_samples(root, class_names=CLASS_NAMES):
    samples = []
    for label, name in enumerate(class_names):
        folder = os.path.join(root, name)
        if os.path.isdir(folder):
            for path in list_images(folder):
                rel = os.path.relpath(path, root)
                samples.append(FaceSample(rel, None, label, rel))
    if not samples:
        raise DatasetError(f"no images found in the class folders of {root}")
    return samples


def load_samples(root, class_names=CLASS_NAMES):
    """(layout, samples) of a dataset folder, groups set to the source image."""
    layout = detect_layout(root)
    loader = load_voc_samples if layout == "voc" else load_crop_samples
    return layout, loader(root, class_names)


def load_datasets(roots, class_names=CLASS_NAMES):
    """(layout, samples) of one or more dataset folders of one layout.

    With several, each sample's ``source`` is its folder's name, its image path is joined
    to the folder (read it with ``ImageCache("")``), and near-duplicates are grouped within
    each dataset only, so that a split group never mixes two datasets. With one, the
    samples are those of :func:`load_samples` (paths relative to the folder, ungrouped).
    """
    roots = [roots] if isinstance(roots, str) else list(roots)
    if len(roots) == 1:
        return load_samples(roots[0], class_names)
    names = [os.path.basename(os.path.normpath(r)) for r in roots]
    if len(set(names)) != len(names):
        raise DatasetError(f"datasets must have different folder names, not {names}")
    layouts, samples = set(), []
    for root, name in zip(roots, names):
        layout, found = load_samples(root, class_names)
        layouts.add(layout)
        found = [FaceSample(os.path.join(os.path.abspath(root), s.image), s.box, s.label,
                            f"{name}:{s.image}", name) for s in found]
        samples.extend(group_near_duplicates(found, ImageCache("")))
    if len(layouts) > 1:
        raise DatasetError("datasets given together must share one layout (VOC scenes or "
                           "class folders)")
    return layouts.pop(), samples


class ImageCache:
    """Decoded BGR images by path relative to ``root`` (or absolute), read once."""

    def __init__(self, root):
        self.root = root
        self._images = {}

    def __getitem__(self, rel):
        img = self._images.get(rel)
        if img is None:
            img = cv2.imread(os.path.join(self.root, rel), cv2.IMREAD_COLOR)
            if img is None:
                raise DatasetError(f"cannot read image {os.path.join(self.root, rel)}")
            self._images[rel] = img
        return img


# ---------------------------------------------------------------- near-duplicates and split
def dhash(gray, flip_invariant=True):
    """64-bit difference hash of a grayscale image (min over the mirror image if asked)."""
    small = cv2.resize(gray, (9, 8), interpolation=cv2.INTER_AREA).astype(np.int16)
    bits = (small[:, 1:] > small[:, :-1]).flatten()
    value = int(np.packbits(bits).view(">u8")[0])
    if flip_invariant:
        mirror = small[:, ::-1]
        mbits = (mirror[:, 1:] > mirror[:, :-1]).flatten()
        value = min(value, int(np.packbits(mbits).view(">u8")[0]))
    return value


def _hamming(a, b):
    return bin(a ^ b).count("1")


class _UnionFind:
    def __init__(self):
        self.parent = {}

    def find(self, x):
        self.parent.setdefault(x, x)
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a, b):
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def group_near_duplicates(samples, images, max_distance=3, min_crop_side=16):
    """Merge the groups of samples whose crops (and whole photos) are near-duplicates.

    Every face crop of at least ``min_crop_side`` px and every whole photo is hashed
    (mirror-invariant dHash); items at most ``max_distance`` bits apart put their groups
    together. Returns the samples with ``group`` set to the merged group id.
    """
    uf = _UnionFind()
    hashes = []  # (hash, group)
    for group in sorted({s.group for s in samples}):
        uf.find(group)
    seen_images = set()
    for s in samples:
        img = images[s.image]
        if s.image not in seen_images:
            seen_images.add(s.image)
            hashes.append((dhash(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)), s.group))
        if s.box is not None and s.min_side() >= min_crop_side:
            x0, y0, x1, y1 = s.box
            crop = img[max(y0, 0):y1, max(x0, 0):x1]
            if crop.size and crop.std() >= 8:  # flat crops all hash alike: skip them
                hashes.append((dhash(cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY)), s.group))
    # bucket by 16-bit chunks: two hashes within 3 bits share at least one chunk exactly
    buckets = defaultdict(list)
    for idx, (h, _) in enumerate(hashes):
        for chunk in range(4):
            buckets[(chunk, (h >> (16 * chunk)) & 0xFFFF)].append(idx)
    for members in buckets.values():
        for i in range(len(members)):
            hi, gi = hashes[members[i]]
            for j in range(i + 1, len(members)):
                hj, gj = hashes[members[j]]
                if gi != gj and _hamming(hi, hj) <= max_distance:
                    uf.union(gi, gj)
    return [FaceSample(s.image, s.box, s.label, uf.find(s.group), s.source) for s in samples]


def split_groups(samples, val_fraction=0.2, seed=0, num_classes=len(CLASS_NAMES)):
    """Stratified, seeded split of the groups: (train_groups, val_groups).

    A group's stratum is its rarest class, so that the few photos with incorrectly worn
    masks are spread over both sides in proportion.
    """
    counts = Counter(s.label for s in samples)
    rarity = sorted(range(num_classes), key=lambda c: counts.get(c, 0))
    labels_of = defaultdict(set)
    for s in samples:
        labels_of[s.group].add(s.label)
    strata = defaultdict(list)
    for group, labels in labels_of.items():
        strata[min(labels, key=rarity.index)].append(group)
    rng = random.Random(seed)
    train, val = [], []
    for stratum in sorted(strata):
        groups = sorted(strata[stratum])
        rng.shuffle(groups)
        n_val = int(round(len(groups) * val_fraction))
        if len(groups) >= 2:
            n_val = min(max(n_val, 1), len(groups) - 1)
        val.extend(groups[:n_val])
        train.extend(groups[n_val:])
    return sorted(train), sorted(val)


def split_dict(root, layout, samples, train_groups, val_groups, seed, val_fraction):
    """The split as saved in split.json: image paths of each side, and their groups."""
    val_set = set(val_groups)
    return {
        "format": SPLIT_FORMAT,
        "dataset": (os.path.abspath(root) if isinstance(root, str)
                    else [os.path.abspath(r) for r in root]),
        "layout": layout,
        "seed": seed,
        "val_fraction": val_fraction,
        "train": sorted({s.image for s in samples if s.group not in val_set}),
        "val": sorted({s.image for s in samples if s.group in val_set}),
        "groups": {s.image: s.group for s in samples},
    }


def save_split(path, root, layout, samples, train_groups, val_groups, seed, val_fraction):
    split = split_dict(root, layout, samples, train_groups, val_groups, seed, val_fraction)
    with open(path, "w") as f:
        json.dump(split, f, indent=1)
    return split


def stem_of(path):
    """A photo's file name without folder and extension: how splits match photos."""
    return os.path.splitext(os.path.basename(path))[0]


def load_run_file(path, file_format, what, written_by):
    """A JSON file that a run wrote (a split, folds), checked for its ``format``; every
    failure is one DatasetError line.
    """
    try:
        with open(path) as f:
            data = json.load(f)
    except (OSError, ValueError) as exc:
        raise DatasetError(f"cannot read {what} file {path}: {exc}") from None
    if not isinstance(data, dict) or data.get("format") != file_format:
        raise DatasetError(f"{path} is not a {what} file written by `{written_by}`")
    return data


def load_split(path):
    return load_run_file(path, SPLIT_FORMAT, "split", "marrtino_facemask train")
