"""Training crops: the robot-camera degradations of augment.py on a real photo."""

import numpy as np
import pytest

from marrtino_facemask.crops import crop_face
from marrtino_facemask.lab import augment, train

FACE = (180.0, 60.0, 300.0, 210.0)   # the astronaut's face, roughly


def test_camera_zero_draws_nothing_more_so_the_old_recipe_is_unchanged(astronaut_bgr):
    """``camera`` 0: the same crop and the same random stream as jitter + photometric alone
    (the recipe of the shipped models before the option).
    """
    a, b = np.random.default_rng(4), np.random.default_rng(4)
    got = augment.augmented_crop(astronaut_bgr, FACE, 96, 0.15, a, camera=0.0)
    box = augment.jitter_box(FACE, b)
    want = augment.photometric(crop_face(astronaut_bgr, box, 96, 0.15), b)
    assert np.array_equal(got, want)
    assert a.random() == b.random()


def test_camera_degradations_keep_the_face_where_it_was(astronaut_bgr):
    clean = crop_face(astronaut_bgr, FACE, 96, 0.15).astype(float)
    changed = 0
    for seed in range(30):
        rng = np.random.default_rng(seed)
        region, box = augment.camera_degraded(astronaut_bgr, FACE, rng)
        assert region.dtype == np.uint8 and region.ndim == 3
        assert box[2] - box[0] == pytest.approx(FACE[2] - FACE[0])
        assert box[3] - box[1] == pytest.approx(FACE[3] - FACE[1])
        # the region reaches at most one face size past the box on each side
        assert region.shape[1] <= 3 * (FACE[2] - FACE[0]) + 2
        crop = crop_face(region, box, 96, 0.15).astype(float)
        # the same face, degraded: still correlated with the clean crop, and not identical
        corr = np.corrcoef(crop.ravel(), clean.ravel())[0, 1]
        assert corr > 0.5, seed
        changed += np.abs(crop - clean).mean() > 1.0
    assert changed == 30


def test_small_faces_are_not_smeared_past_recognition(astronaut_bgr):
    """Blur is capped by the face's size: a 12 px face keeps some detail in every draw."""
    small = np.ascontiguousarray(astronaut_bgr[::10, ::10])   # the face about 12 px
    box = tuple(v / 10 for v in FACE)
    clean = crop_face(small, box, 96, 0.15).astype(float)
    for seed in range(30):
        region, moved = augment.camera_degraded(small, box, np.random.default_rng(seed))
        crop = crop_face(region, moved, 96, 0.15).astype(float)
        # without the cap the worst of these draws correlates 0.83 with the clean crop
        assert np.corrcoef(crop.ravel(), clean.ravel())[0, 1] > 0.9, seed


def test_camera_augment_must_be_a_probability(capsys):
    with pytest.raises(SystemExit):
        train.parse_args(["--data", "x", "--camera-augment", "2"])
    err = capsys.readouterr().err
    assert "--camera-augment must be from 0 to 1, not 2.0" in err
    assert train.parse_args(["--data", "x"]).camera_augment == 0.0   # the shipped recipe


def test_training_crops_with_camera_augment_are_degraded_and_seeded(tmp_path):
    """The training dataset with --camera-augment 1: every crop comes out at the model's input
    size, the same for the same seed, and different from the crops without it.
    """
    from synthetic import make_voc_scenes

    from marrtino_facemask.lab.data import ImageCache, load_samples
    data = make_voc_scenes(str(tmp_path / "scenes"), n_images=3)
    _, samples = load_samples(data)
    images = ImageCache(data)

    def crops(camera, seed=0):
        ds = train.CropDataset(samples, images, 48, 0.15, seed, camera=camera)
        return [ds[i] for i in range(len(samples))]

    with_camera, again, without = crops(1.0), crops(1.0), crops(0.0)
    assert all(c.shape == (48, 48, 3) and c.dtype == np.uint8 for c, _ in with_camera)
    assert all(np.array_equal(a, b) for (a, _), (b, _) in zip(with_camera, again))
    assert [label for _, label in with_camera] == [s.label for s in samples]
    assert sum(not np.array_equal(a, b) for (a, _), (b, _) in zip(with_camera, without)) \
        == len(samples)
