"""Several datasets, k-fold cross-validation and crops aligned on landmarks."""

import json
import os
import shutil
from collections import Counter, defaultdict

import cv2
import numpy as np
import pytest
from synthetic import make_voc_scenes

from marrtino_facemask.crops import (
    CANONICAL_LANDMARKS,
    alignment,
    crop_aligned,
    crop_face,
    square_box,
)
from marrtino_facemask.lab.data import DatasetError, FaceSample, ImageCache, load_datasets
from marrtino_facemask.lab.folds import assign_folds, fold_of, load_folds, photo_key

SHARED = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), "shared", "data")
SCENES = os.environ.get("FACE_MASK_SCENES") or os.path.join(SHARED, "face_mask_scenes")
EXTRA = os.path.join(SHARED, "face_mask_extra")
# The astronaut's face in skimage's picture, and CenterFace's five landmarks on it (left eye,
# right eye, nose tip, mouth corners), as the shipped detector finds them.
ASTRONAUT_FACE = (179, 57, 272, 178)


@pytest.fixture(scope="module")
def two_sets(tmp_path_factory):
    base = tmp_path_factory.mktemp("sets")
    a = make_voc_scenes(str(base / "set_a"), n_images=12, seed=1)
    b = make_voc_scenes(str(base / "set_b"), n_images=12, seed=2)
    # a near-duplicate inside set_a (another name, the same picture), and the same picture
    # in set_b: the first pair is one split group, the second pair is not
    for root, name in ((a, "copy_of_a0"), (b, "scene_a0")):
        shutil.copy(os.path.join(a, "images", "scene000.png"),
                    os.path.join(root, "images", f"{name}.png"))
        xml = open(os.path.join(a, "annotations", "scene000.xml")).read()
        with open(os.path.join(root, "annotations", f"{name}.xml"), "w") as f:
            f.write(xml.replace("scene000.png", f"{name}.png"))
    return a, b


def test_two_datasets_load_together_with_their_sources(two_sets):
    a, b = two_sets
    layout, samples = load_datasets([a, b])
    assert layout == "voc"
    assert Counter(s.source for s in samples) == {"set_a": 26, "set_b": 26}
    images = ImageCache("")
    for s in samples:
        assert os.path.isabs(s.image) and images[s.image].shape == (200, 320, 3)
        assert s.group.startswith(s.source + ":")       # a group never spans two datasets
    group = {(s.source, os.path.basename(s.image)): s.group for s in samples}
    assert group[("set_a", "copy_of_a0.png")] == group[("set_a", "scene000.png")]
    assert group[("set_b", "scene_a0.png")] != group[("set_a", "scene000.png")]
    assert len({s.group for s in samples}) == 25


def test_datasets_must_differ_by_name_and_share_a_layout(two_sets, tmp_path):
    a, _ = two_sets
    other = tmp_path / "x" / "set_a"
    shutil.copytree(a, other)
    with pytest.raises(DatasetError, match="different folder names"):
        load_datasets([a, str(other)])
    crops = tmp_path / "crops"
    (crops / "with_mask").mkdir(parents=True)
    cv2.imwrite(str(crops / "with_mask" / "x.png"), np.zeros((20, 20, 3), np.uint8))
    with pytest.raises(DatasetError, match="one layout"):
        load_datasets([a, str(crops)])


def _fake_samples(groups_per_source=120, seed=0):
    """Faces of photos of two sources; one photo in eight holds the rare class (0)."""
    rng = np.random.default_rng(seed)
    samples = []
    for source in ("big", "small"):
        for g in range(groups_per_source if source == "big" else groups_per_source // 3):
            labels = [int(rng.integers(1, 3)) for _ in range(int(rng.integers(1, 5)))]
            if g % 8 == 0:
                labels[0] = 0
            for i, label in enumerate(labels):
                samples.append(FaceSample(f"/{source}/images/p{g}.jpg", (i, 0, i + 30, 30),
                                          label, f"{source}:p{g}", source))
    return samples


def test_folds_keep_photo_groups_whole_and_stratify_class_and_source():
    samples = _fake_samples()
    folds = assign_folds(samples, k=5, seed=0)
    assert set(folds.values()) == set(range(5))
    assert set(folds) == {s.group for s in samples}
    per_fold = defaultdict(Counter)
    for s in samples:
        per_fold[folds[s.group]][(s.source, s.label)] += 1
    totals = Counter((s.source, s.label) for s in samples)
    for key, total in totals.items():
        shares = [per_fold[k][key] for k in range(5)]
        assert min(shares) >= 1, (key, shares)          # every fold holds every stratum
        assert max(shares) - min(shares) <= max(3, 0.25 * total), (key, shares)
    # seeded: the same folds again; another seed, others
    assert assign_folds(samples, k=5, seed=0) == folds
    assert assign_folds(samples, k=5, seed=1) != folds


def test_too_few_groups_for_the_folds_is_one_clear_error():
    samples = _fake_samples(groups_per_source=3)
    with pytest.raises(DatasetError, match="cannot make 5 folds"):
        assign_folds(samples, k=5)


@pytest.mark.skipif(not (os.path.isdir(SCENES) and os.path.isdir(EXTRA)),
                    reason="needs ../shared/data/face_mask_scenes and face_mask_extra")
def test_folds_of_the_two_real_datasets():
    _, samples = load_datasets([SCENES, EXTRA])
    folds = assign_folds(samples, k=5, seed=0)
    photos_of_group = defaultdict(set)
    for s in samples:
        photos_of_group[s.group].add(s.image)
    assert all(len({folds[g]}) == 1 for g in photos_of_group)
    rare = Counter((folds[s.group], s.source) for s in samples if s.label == 0)
    for source in ("face_mask_scenes", "face_mask_extra"):
        counts = [rare[(k, source)] for k in range(5)]
        assert max(counts) - min(counts) <= 0.15 * np.mean(counts) + 1, (source, counts)


def _astronaut_landmarks():
    from skimage import data

    from marrtino_facemask.centerface import CenterFaceDetector
    image = np.ascontiguousarray(data.astronaut()[..., ::-1])
    face = max(CenterFaceDetector(0.3, 8).detect(image), key=lambda f: f.score)
    return image, face


def test_alignment_puts_the_landmarks_on_the_canonical_face():
    image, face = _astronaut_landmarks()
    m = alignment(face.landmarks, 96)
    points = np.asarray(face.landmarks, np.float64).reshape(5, 2)
    moved = points @ m[:, :2].T + m[:, 2]
    canonical = np.asarray(CANONICAL_LANDMARKS) * 96
    # a similarity cannot fit five points exactly; the eyes and nose land within 3 px
    assert np.abs(moved - canonical)[:3].max() < 3.0, moved
    assert np.abs(moved - canonical).max() < 6.0, moved


def test_aligned_crops_undo_a_turn_of_the_head():
    image, face = _astronaut_landmarks()
    straight, aligned = crop_aligned(image, face.box, face.landmarks, 96)
    assert aligned and straight.shape == (96, 96, 3)
    # the same photo turned by 25 degrees about the face: the landmarks turn with it
    cx, cy = (face.x_min + face.x_max) / 2, (face.y_min + face.y_max) / 2
    turn = cv2.getRotationMatrix2D((cx, cy), 25, 1.0)
    turned = cv2.warpAffine(image, turn, image.shape[1::-1], borderMode=cv2.BORDER_REPLICATE)
    points = np.asarray(face.landmarks, np.float64).reshape(5, 2) @ turn[:, :2].T + turn[:, 2]
    again, aligned = crop_aligned(turned, face.box, points.ravel(), 96)
    assert aligned
    box_crop = crop_face(turned, face.box, 96)
    inner = (slice(16, 80), slice(16, 80))     # the face, away from the replicated border
    diff_aligned = np.abs(again[inner].astype(int) - straight[inner].astype(int)).mean()
    diff_box = np.abs(box_crop[inner].astype(int) - straight[inner].astype(int)).mean()
    assert diff_aligned < 12 and diff_box > 2 * diff_aligned, (diff_aligned, diff_box)


def test_aligned_crop_falls_back_to_the_box_without_fitting_landmarks():
    image, face = _astronaut_landmarks()
    box = face.box
    plain = crop_face(image, box, 64)
    crop, aligned = crop_aligned(image, box, None, 64)
    assert not aligned and np.array_equal(crop, plain)
    x0, y0, x1, y1 = square_box(box)
    tiny = np.array([[x0 + 1, y0 + 1], [x0 + 3, y0 + 1], [x0 + 2, y0 + 2], [x0 + 1, y0 + 3],
                     [x0 + 3, y0 + 3]], float)             # a face 3 px wide in a 120 px box
    crop, aligned = crop_aligned(image, box, tiny.ravel(), 64)
    assert not aligned and np.array_equal(crop, plain)
    crop, aligned = crop_aligned(image, box, [np.nan] * 10, 64)
    assert not aligned


def test_a_big_face_is_shrunk_without_aliasing():
    """A face many times the crop's size is cut like the box crop (INTER_AREA): a fine
    stripe pattern averages to grey instead of aliasing into coarse stripes.
    """
    stripes = np.zeros((1200, 1200, 3), np.uint8)
    stripes[:, ::2] = 255
    landmarks = np.asarray(CANONICAL_LANDMARKS) * 800 + 200     # a face of about 800 px
    box = (200 + 0.15 * 800 / 1.3, 200 + 0.15 * 800 / 1.3, 1000 - 0.15 * 800 / 1.3,
           1000 - 0.15 * 800 / 1.3)
    crop, aligned = crop_aligned(stripes, box, landmarks.ravel(), 64)
    assert aligned
    assert abs(float(crop.mean()) - 127.5) < 10 and float(crop.std()) < 20


def test_cross_validation_never_scores_a_photo_it_trained_on(two_sets, tmp_path):
    pytest.importorskip("torch")
    from marrtino_facemask.lab import crossval, train
    a, b = two_sets
    out = str(tmp_path / "cv")
    assert train.main(["--data", a, b, "--folds", "2", "--out", out, "--epochs", "1",
                       "--input-size", "32", "--batch-size", "8", "--threads", "2",
                       "--no-progress", "--align"]) == 0
    folds = load_folds(os.path.join(out, "folds.json"))
    assert set(folds["photos"].values()) == {0, 1}
    scored = set()
    for k in (0, 1):
        with open(os.path.join(out, f"fold{k}", "split.json")) as f:
            split = json.load(f)
        trained = {photo_key(FaceSample(p, None, 0, "", os.path.basename(
            os.path.dirname(os.path.dirname(p))))) for p in split["train"]}
        with open(os.path.join(out, f"fold{k}", "predictions.json")) as f:
            photos = {f"{ph['source']}/{ph['photo']}" for ph in json.load(f)["photos"]}
        assert photos and not photos & trained
        assert photos == {p for p, fold in folds["photos"].items() if fold == k}
        scored |= photos
    assert scored == set(folds["photos"])
    table = crossval.report(out, bootstrap=20)
    assert set(table["groups"]) == {"pooled", "set_a", "set_b"}
    pooled = table["groups"]["pooled"]
    assert pooled["photos"] == 26 and pooled["faces"] > 30
    assert 0.0 <= pooled["accuracy"]["pooled"] <= 1.0 and len(pooled["accuracy"]["per_fold"]) == 2
    # the same run against itself: every paired difference is exactly zero
    diff = crossval.compare(out, out, bootstrap=20)
    assert all(v[0] == 0.0 for g in diff.values() for v in g.values() if v[0] is not None)
    # `evaluate --folds RUN --against OTHER` prints and writes both tables
    from marrtino_facemask.lab import evaluate
    assert evaluate.main(["--folds", out, "--against", out, "--bootstrap", "20"]) == 0
    with open(os.path.join(out, "cv_report.md")) as f:
        text = f.read()
    assert "| macro recall |" in text and "Paired difference" in text and "+0.000 [" in text
    # --int8: each fold's checkpoint exported and quantized on its own training photos, then
    # scored on the same held-out photos as the node would run it
    pytest.importorskip("onnx")
    assert evaluate.main(["--folds", out, "--int8", "--bootstrap", "20"]) == 0
    for k in (0, 1):
        with open(os.path.join(out, f"fold{k}", "predictions_int8.json")) as f:
            int8 = json.load(f)["photos"]
        with open(os.path.join(out, f"fold{k}", "predictions.json")) as f:
            plain = json.load(f)["photos"]
        assert [p["photo"] for p in int8] == [p["photo"] for p in plain]
        assert [p["faces"] for p in int8] == [p["faces"] for p in plain]   # same detections
        from marrtino_facemask.classifier import MaskClassifier
        int8_model = MaskClassifier(os.path.join(out, f"fold{k}", "last_int8.onnx"))
        assert int8_model.precision == "int8" and int8_model.metadata_align
        # calibrated on crops cut as the node will cut them for this model: aligned
        assert "(aligned crops)" in int8_model.net.session.get_modelmeta().custom_metadata_map[
            "calibration"]
    with open(os.path.join(out, "cv_metrics_int8.json")) as f:
        assert json.load(f)["classifier"] == "int8 ONNX"
    # the card a shipped model publishes: the recipe and both tables, from the folds only
    card_path = str(tmp_path / "metrics.json")
    assert evaluate.main(["--folds", out, "--against", out, "--card", card_path,
                          "--bootstrap", "20"]) == 0
    with open(card_path) as f:
        card = json.load(f)
    assert card["recipe"]["align"] is True and card["recipe"]["epochs"] == 1
    assert "data" not in card["recipe"] and "out" not in card["recipe"]
    assert card["checkpoint"]["classifier"] == "checkpoint (torch)"
    assert card["int8"]["groups"]["pooled"]["photos"] == 26
    assert card["against"]["int8_difference"]["pooled"]["accuracy"][0] == 0.0
    # a run on other folds cannot be compared photo for photo
    other = str(tmp_path / "other")
    assert train.main(["--data", a, b, "--folds", "2", "--seed", "5", "--out", other,
                       "--epochs", "1", "--input-size", "32", "--batch-size", "8",
                       "--threads", "2", "--no-progress", "--only-folds", "0"]) == 0
    with pytest.raises(ValueError, match="same photos in the same folds"):
        crossval.compare(out, other, bootstrap=0)


def test_fold_of_refuses_photos_outside_the_folds_file(two_sets):
    a, b = two_sets
    _, samples = load_datasets([a, b])
    folds = {"photos": {photo_key(s): 0 for s in samples if s.source == "set_a"}}
    with pytest.raises(DatasetError, match="in no fold"):
        fold_of(samples, folds)
