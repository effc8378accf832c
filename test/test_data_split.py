"""Datasets and the train/validation split (marrtino_facemask.lab.data) on real files in tmp."""

import json
import os
from collections import defaultdict

import cv2
import numpy as np
import pytest

from marrtino_facemask.lab.data import (
    SPLIT_FORMAT,
    DatasetError,
    FaceSample,
    ImageCache,
    dhash,
    group_near_duplicates,
    load_samples,
    load_split,
    parse_voc,
    save_split,
    split_groups,
)
from marrtino_facemask.labels import CLASS_NAMES

INCORRECT, WITH, WITHOUT = (CLASS_NAMES.index(n) for n in
                            ("mask_weared_incorrect", "with_mask", "without_mask"))


def photo(seed, width=160, height=120):
    """A textured 'photo': smooth random structure plus a little noise."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)
    img = cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)
    return cv2.add(img, rng.integers(0, 20, (height, width, 3), dtype=np.uint8))


def voc_xml(filename, objects, width=160, height=120):
    objs = "".join(
        f"<object><name>{name}</name><pose>Unspecified</pose><truncated>0</truncated>"
        f"<bndbox><xmin>{b[0]}</xmin><ymin>{b[1]}</ymin><xmax>{b[2]}</xmax>"
        f"<ymax>{b[3]}</ymax></bndbox></object>" for name, b in objects)
    name_tag = f"<filename>{filename}</filename>" if filename is not None else ""
    return (f"<annotation><folder>images</folder>{name_tag}<size><width>{width}</width>"
            f"<height>{height}</height><depth>3</depth></size>{objs}</annotation>")


def write_voc(root, photos):
    """photos: {stem: (image, xml_filename, [(class_name, box), ...])}."""
    os.makedirs(os.path.join(root, "images"), exist_ok=True)
    os.makedirs(os.path.join(root, "annotations"), exist_ok=True)
    for stem, (img, filename, objects) in photos.items():
        assert cv2.imwrite(os.path.join(root, "images", f"{stem}.png"), img)
        h, w = img.shape[:2]
        with open(os.path.join(root, "annotations", f"{stem}.xml"), "w") as f:
            f.write(voc_xml(filename, objects, w, h))


@pytest.fixture
def voc_root(tmp_path):
    root = tmp_path / "voc"
    p0 = photo(0)
    dup = cv2.resize(p0[:, ::-1], (240, 180), interpolation=cv2.INTER_AREA)  # mirrored, bigger
    photos = {
        "p0": (p0, "p0.png", [("with_mask", (10, 20, 50, 70)),
                              ("without_mask", (90, 30, 130, 80))]),
        "p1": (photo(1), "p1.png", [("mask_weared_incorrect", (40, 40, 80, 90))]),
        "p2": (photo(2), "p2.png", [("without_mask", (5, 5, 45, 55)),
                                    ("with_mask", (60, 10, 100, 60)),
                                    ("with_mask", (110, 60, 150, 110))]),
        # the XML names a .jpg, the file on disk is .png: found by its stem
        "p3": (photo(3), "p3.jpg", [("with_mask", (20.4, 30.6, 60.2, 80.0))]),
        # a degenerate box is skipped
        "p4": (photo(4), "p4.png", [("with_mask", (30, 30, 30, 60)),
                                    ("without_mask", (70, 20, 110, 70))]),
        # a near-duplicate of p0: mirrored and resized, its boxes mirrored too
        "p5": (dup, "p5.png", [("without_mask", (240 - 195, 45, 240 - 135, 120)),
                               ("with_mask", (240 - 75, 30, 240 - 15, 105))]),
    }
    write_voc(str(root), photos)
    (root / "annotations" / "README.txt").write_text("not an annotation")
    return str(root)


# --------------------------------------------------------------------------- loading
def test_load_voc_samples(voc_root):
    layout, samples = load_samples(voc_root)
    assert layout == "voc"
    by_image = defaultdict(list)
    for s in samples:
        assert isinstance(s, FaceSample)
        assert s.group == s.image                    # split unit: the source photo
        by_image[s.image].append((s.box, s.label))
    assert sorted(by_image) == [os.path.join("images", f"p{i}.png") for i in range(6)]
    assert by_image[os.path.join("images", "p0.png")] == [((10, 20, 50, 70), WITH),
                                                          ((90, 30, 130, 80), WITHOUT)]
    assert by_image[os.path.join("images", "p1.png")] == [((40, 40, 80, 90), INCORRECT)]
    assert by_image[os.path.join("images", "p3.png")] == [((20, 31, 60, 80), WITH)]
    assert by_image[os.path.join("images", "p4.png")] == [((70, 20, 110, 70), WITHOUT)]
    assert len(samples) == 2 + 1 + 3 + 1 + 1 + 2
    for s in samples:
        assert os.path.isfile(os.path.join(voc_root, s.image))
        assert all(isinstance(v, int) for v in s.box)


def test_parse_voc(voc_root):
    filename, objects = parse_voc(os.path.join(voc_root, "annotations", "p2.xml"))
    assert filename == "p2.png"
    assert objects == [((5, 5, 45, 55), WITHOUT), ((60, 10, 100, 60), WITH),
                       ((110, 60, 150, 110), WITH)]


def test_voc_without_filename_tag(tmp_path):
    root = tmp_path / "nofn"
    write_voc(str(root), {"a": (photo(9), None, [("with_mask", (1, 1, 40, 40))])})
    layout, samples = load_samples(str(root))
    assert layout == "voc" and samples[0].image == os.path.join("images", "a.png")


def test_voc_unknown_class(tmp_path):
    root = tmp_path / "bad"
    write_voc(str(root), {"a": (photo(9), "a.png", [("with_mask", (1, 1, 40, 40)),
                                                    ("face_shield", (50, 1, 90, 40))])})
    with pytest.raises(DatasetError) as info:
        load_samples(str(root))
    assert "face_shield" in str(info.value) and "a.xml" in str(info.value)


def test_voc_missing_image(tmp_path):
    root = tmp_path / "missing"
    write_voc(str(root), {"a": (photo(9), "a.png", [("with_mask", (1, 1, 40, 40))])})
    os.remove(root / "images" / "a.png")
    with pytest.raises(DatasetError, match="a.png"):
        load_samples(str(root))


@pytest.mark.parametrize("xml", ["<annotation><filename>a.png</filename><object>",
                                 "<annotation><filename>a.png</filename><object>"
                                 "<name>with_mask</name></object></annotation>"],
                         ids=["truncated_xml", "object_without_bndbox"])
def test_voc_malformed_annotation(tmp_path, xml):
    root = tmp_path / "malformed"
    write_voc(str(root), {"a": (photo(9), "a.png", [])})
    (root / "annotations" / "a.xml").write_text(xml)
    with pytest.raises(DatasetError):
        load_samples(str(root))


def test_crop_folder_layout(tmp_path):
    root = tmp_path / "crops"
    (root / "with_mask").mkdir(parents=True)
    (root / "without_mask" / "sub").mkdir(parents=True)
    (root / "mask_weared_incorrect").mkdir()
    cv2.imwrite(str(root / "with_mask" / "a.png"), photo(1, 40, 40))
    cv2.imwrite(str(root / "with_mask" / "b.JPG"), photo(2, 40, 40))
    cv2.imwrite(str(root / "without_mask" / "sub" / "c.jpg"), photo(3, 40, 40))
    (root / "with_mask" / "notes.txt").write_text("ignored")
    layout, samples = load_samples(str(root))
    assert layout == "crops"
    got = sorted((s.image, s.label) for s in samples)
    assert got == [(os.path.join("with_mask", "a.png"), WITH),
                   (os.path.join("with_mask", "b.JPG"), WITH),
                   (os.path.join("without_mask", "sub", "c.jpg"), WITHOUT)]
    for s in samples:
        assert s.box is None and s.group == s.image
        assert s.min_side((40, 30, 3)) == 30


def test_crop_folders_without_images(tmp_path):
    (tmp_path / "with_mask").mkdir()
    with pytest.raises(DatasetError, match="no images"):
        load_samples(str(tmp_path))


@pytest.mark.parametrize("make", ["empty", "only_images", "other_folders"])
def test_neither_layout(tmp_path, make):
    if make == "only_images":
        (tmp_path / "images").mkdir()
    elif make == "other_folders":
        (tmp_path / "cats").mkdir()
        (tmp_path / "dogs").mkdir()
    with pytest.raises(DatasetError) as info:
        load_samples(str(tmp_path))
    msg = str(info.value)
    assert str(tmp_path) in msg and "annotations" in msg and "with_mask" in msg


def test_dataset_error_is_a_value_error():
    assert issubclass(DatasetError, ValueError)


def test_image_cache(voc_root):
    cache = ImageCache(voc_root)
    img = cache[os.path.join("images", "p5.png")]
    assert img.shape == (180, 240, 3) and img.dtype == np.uint8
    assert cache[os.path.join("images", "p5.png")] is img    # read once
    with pytest.raises(DatasetError):
        cache["images/nope.png"]


def test_face_sample_min_side():
    assert FaceSample("a", (10, 20, 50, 35), 0).min_side() == 15
    assert FaceSample("a", None, 0).min_side((48, 64, 3)) == 48


# --------------------------------------------------------------------------- near-duplicates
def test_dhash_is_mirror_and_scale_invariant():
    gray = cv2.cvtColor(photo(0), cv2.COLOR_BGR2GRAY)
    h = dhash(gray)
    assert 0 <= h < 2 ** 64
    mirrored = dhash(np.ascontiguousarray(gray[:, ::-1]))
    resized = dhash(cv2.resize(gray, (320, 240), interpolation=cv2.INTER_AREA))
    assert bin(h ^ mirrored).count("1") <= 3
    assert bin(h ^ resized).count("1") <= 3
    other = dhash(cv2.cvtColor(photo(1), cv2.COLOR_BGR2GRAY))
    assert bin(h ^ other).count("1") > 10


def test_group_near_duplicates_merges_a_mirrored_resized_copy(voc_root):
    _, samples = load_samples(voc_root)
    grouped = group_near_duplicates(samples, ImageCache(voc_root))
    assert len(grouped) == len(samples)
    for before, after in zip(samples, grouped):
        assert (before.image, before.box, before.label) == (after.image, after.box, after.label)
    group_of = {s.image: s.group for s in grouped}
    img = lambda i: os.path.join("images", f"p{i}.png")  # noqa: E731
    assert group_of[img(0)] == group_of[img(5)]
    others = [group_of[img(i)] for i in (0, 1, 2, 3, 4)]
    assert len(set(others)) == 5, group_of             # unrelated photos stay apart
    # the merged group is named after one of its members, deterministically
    assert group_of[img(0)] in (img(0), img(5))
    assert group_near_duplicates(samples, ImageCache(voc_root)) == grouped


def test_near_duplicates_never_straddle_the_split(voc_root):
    _, samples = load_samples(voc_root)
    grouped = group_near_duplicates(samples, ImageCache(voc_root))
    for seed in range(10):
        train, val = split_groups(grouped, val_fraction=0.4, seed=seed)
        side = {g: ("train" if g in train else "val") for g in train + val}
        sides = {side[s.group] for s in grouped
                 if s.image in (os.path.join("images", "p0.png"),
                                os.path.join("images", "p5.png"))}
        assert len(sides) == 1, (seed, train, val)


def test_group_near_duplicates_on_random_photos_keeps_them_apart(tmp_path):
    root = tmp_path / "rand"
    rng = np.random.default_rng(11)
    photos = {}
    for i in range(12):
        img = photo(100 + i)
        x, y = (int(v) for v in rng.integers(0, 100, size=2))
        photos[f"r{i:02d}"] = (img, f"r{i:02d}.png", [("with_mask", (x, y, x + 40, y + 40))])
    write_voc(str(root), photos)
    _, samples = load_samples(str(root))
    grouped = group_near_duplicates(samples, ImageCache(str(root)))
    assert len({s.group for s in grouped}) == 12


# --------------------------------------------------------------------------- split
def synthetic_samples(n_photos=30, seed=0):
    """Faces of ``n_photos`` photos: mostly with_mask, some without, 4 photos incorrect."""
    rng = np.random.default_rng(seed)
    samples = []
    for p in range(n_photos):
        group = f"images/img{p:03d}.png"
        labels = [WITH] * int(rng.integers(1, 4))
        if p % 3 == 0:
            labels.append(WITHOUT)
        if p in (2, 9, 17, 25):
            labels.append(INCORRECT)
        for k, label in enumerate(labels):
            samples.append(FaceSample(group, (k * 10, 0, k * 10 + 30, 30), label, group))
    return samples


def test_split_partitions_the_groups():
    samples = synthetic_samples()
    train, val = split_groups(samples, val_fraction=0.2, seed=0)
    groups = {s.group for s in samples}
    assert set(train) | set(val) == groups
    assert not set(train) & set(val)
    assert train == sorted(train) and val == sorted(val)
    assert 4 <= len(val) <= 8                    # about 20 % of 30 photos
    # every face of one photo is on the same side
    val_set = set(val)
    sides = defaultdict(set)
    for s in samples:
        sides[s.image].add(s.group in val_set)
    assert all(len(v) == 1 for v in sides.values())


def test_split_is_deterministic_and_depends_on_the_seed():
    samples = synthetic_samples()
    first = split_groups(samples, 0.2, seed=0)
    assert split_groups(samples, 0.2, seed=0) == first
    assert split_groups(list(reversed(samples)), 0.2, seed=0) == first   # order-independent
    others = [split_groups(samples, 0.2, seed=s) for s in range(1, 6)]
    assert any(o != first for o in others)


@pytest.mark.parametrize("seed", range(8))
def test_split_is_stratified(seed):
    samples = synthetic_samples(seed=seed)
    train, val = split_groups(samples, val_fraction=0.2, seed=seed)
    val_set = set(val)
    for label in (INCORRECT, WITH, WITHOUT):
        sides = {s.group in val_set for s in samples if s.label == label}
        assert sides == {True, False}, (CLASS_NAMES[label], seed)
    # the rare class is split in proportion: 1 of its 4 photos in validation
    incorrect_val = {s.group for s in samples if s.label == INCORRECT} & val_set
    assert len(incorrect_val) == 1


def test_split_keeps_both_sides_of_a_two_photo_class_even_at_a_tiny_fraction():
    samples = [FaceSample("a", (0, 0, 9, 9), INCORRECT, "a"),
               FaceSample("b", (0, 0, 9, 9), INCORRECT, "b")]
    samples += [FaceSample(f"w{i}", (0, 0, 9, 9), WITH, f"w{i}") for i in range(10)]
    train, val = split_groups(samples, val_fraction=0.01, seed=3)
    assert len({"a", "b"} & set(val)) == 1 and len({"a", "b"} & set(train)) == 1
    assert any(g.startswith("w") for g in val) and any(g.startswith("w") for g in train)


def test_split_single_group_goes_to_train():
    samples = [FaceSample("a", (0, 0, 9, 9), WITH, "a")]
    assert split_groups(samples, 0.2, seed=0) == (["a"], [])


# --------------------------------------------------------------------------- split files
def test_save_and_load_split(voc_root, tmp_path):
    layout, samples = load_samples(voc_root)
    grouped = group_near_duplicates(samples, ImageCache(voc_root))
    train, val = split_groups(grouped, val_fraction=0.4, seed=4)
    path = tmp_path / "split.json"
    written = save_split(str(path), voc_root, layout, grouped, train, val, 4, 0.4)
    loaded = load_split(str(path))
    assert loaded == written
    assert loaded["format"] == SPLIT_FORMAT
    assert loaded["dataset"] == os.path.abspath(voc_root)
    assert loaded["layout"] == "voc" and loaded["seed"] == 4 and loaded["val_fraction"] == 0.4
    images = {s.image for s in grouped}
    assert set(loaded["train"]) | set(loaded["val"]) == images
    assert not set(loaded["train"]) & set(loaded["val"])
    assert loaded["val"], "validation side is empty"
    assert loaded["groups"] == {s.image: s.group for s in grouped}
    for image in loaded["val"]:
        assert loaded["groups"][image] in val


@pytest.mark.parametrize("content", ['{"train": [], "val": []}',
                                     '{"format": "marrtino_facemask.resnet18"}',
                                     "not json at all", ""])
def test_load_split_rejects_other_files(tmp_path, content):
    path = tmp_path / "x.json"
    path.write_text(content)
    with pytest.raises(DatasetError) as info:
        load_split(str(path))
    assert str(path) in str(info.value)


def test_load_split_missing_file(tmp_path):
    with pytest.raises(DatasetError, match="cannot read split file"):
        load_split(str(tmp_path / "nope.json"))


@pytest.mark.parametrize("content", ["[1, 2]", "3", '"split"', "null"])
def test_load_split_rejects_non_object_json(tmp_path, content):
    path = tmp_path / "x.json"
    path.write_text(content)
    with pytest.raises(DatasetError):
        load_split(str(path))


def test_split_file_is_plain_json(voc_root, tmp_path):
    layout, samples = load_samples(voc_root)
    train, val = split_groups(samples, 0.4, seed=0)
    path = tmp_path / "s.json"
    save_split(str(path), voc_root, layout, samples, train, val, 0, 0.4)
    with open(path) as f:
        assert json.load(f)["format"] == SPLIT_FORMAT
