"""Synthetic mask_weared_incorrect faces (marrtino_facemask.lab.synth_masks), placed by the
real CenterFace landmarks of skimage's astronaut (public domain), and used by a real tiny
training run.
"""

import numpy as np
import pytest
from synthetic import make_voc_scenes

from marrtino_facemask.detectors import make_face_detector
from marrtino_facemask.lab import train
from marrtino_facemask.lab.synth_masks import (
    MOUTH_LEFT,
    MOUTH_RIGHT,
    NOSE,
    IncorrectMaskSynth,
    MaskPatch,
    cut_mask,
    paste_below_nose,
    plausible_landmarks,
    u_shape_alpha,
)

GREEN = (0, 255, 0)


@pytest.fixture(scope="module")
def astro_face(astronaut_bgr):
    faces = make_face_detector("centerface", 0.3, 8).detect(astronaut_bgr)
    assert faces and faces[0].landmarks is not None
    return faces[0]


def green_patch(h=40, w=60):
    bgr = np.zeros((h, w, 3), np.uint8)
    bgr[:] = GREEN
    return MaskPatch(bgr, u_shape_alpha(h, w, 0))


def test_u_shape_hangs_from_the_top_edge():
    a = u_shape_alpha(40, 60, 0)
    assert a[0, 30] == 1.0 and a[20, 30] == 1.0          # top centre, middle
    assert a[39, 0] == 0.0 and a[39, 59] == 0.0          # bottom corners are open
    soft = u_shape_alpha(40, 60, 3)
    assert 0.0 < soft[36, 10] < 1.0 or 0.0 < soft[30, 5] < 1.0
    assert soft.min() >= 0.0 and soft.max() <= 1.0


def test_landmarks_must_be_in_face_order(astro_face):
    assert plausible_landmarks(astro_face.box, astro_face.landmarks)
    p = np.asarray(astro_face.landmarks).reshape(5, 2)
    upside_down = p.copy()
    upside_down[:, 1] = astro_face.box[1] + astro_face.box[3] - p[:, 1]
    assert not plausible_landmarks(astro_face.box, upside_down.ravel())
    assert not plausible_landmarks(astro_face.box, None)
    far = p + np.array([400.0, 0.0])
    assert not plausible_landmarks(astro_face.box, far.ravel())


def test_pasted_mask_leaves_the_nose_bare_and_covers_below(astronaut_bgr, astro_face):
    """The mask starts below the nose tip: the eyes and nose are untouched, the area between
    the mouth and the chin is the mask's colour, and the photo itself is not modified.
    """
    before = astronaut_bgr.copy()
    rng = np.random.default_rng(0)
    for _ in range(8):
        region, box = paste_below_nose(astronaut_bgr, astro_face.box, astro_face.landmarks,
                                       green_patch(), rng)
        assert np.array_equal(astronaut_bgr, before)
        ox, oy = astro_face.box[0] - box[0], astro_face.box[1] - box[1]
        p = np.asarray(astro_face.landmarks).reshape(5, 2) - (ox, oy)
        nose_x, nose_y = (int(round(v)) for v in p[NOSE])
        original = before[int(oy):int(oy) + region.shape[0], int(ox):int(ox) + region.shape[1]]
        assert np.array_equal(region[:nose_y - 1], original[:nose_y - 1])   # eyes, nose
        chin_y = int(round((p[[MOUTH_LEFT, MOUTH_RIGHT], 1].mean() + box[3]) / 2))
        chin = region[chin_y, nose_x].astype(int)
        assert chin[1] > 150 and chin[0] < 100 and chin[2] < 100, chin   # green


def test_placement_chin_leaves_the_mouth_bare_and_below_nose_covers_it(astronaut_bgr,
                                                                         astro_face):
    """chin_fraction 1 (--synth-placement chin): every mask starts below the mouth, so the
    mouth is untouched; 0 (below-nose): every mask starts above the mouth, covering it.
    """
    p = np.asarray(astro_face.landmarks).reshape(5, 2)
    for fraction, mouth_covered in ((1.0, False), (0.0, True)):
        rng = np.random.default_rng(1)
        for _ in range(8):
            region, box = paste_below_nose(astronaut_bgr, astro_face.box, astro_face.landmarks,
                                           green_patch(), rng, chin_fraction=fraction)
            ox, oy = astro_face.box[0] - box[0], astro_face.box[1] - box[1]
            mouth = (p[[MOUTH_LEFT, MOUTH_RIGHT]].mean(axis=0) - (ox, oy)).round().astype(int)
            pixel = region[mouth[1], mouth[0]].astype(int)
            is_green = pixel[1] > 150 and pixel[0] < 100 and pixel[2] < 100
            assert is_green == mouth_covered, (fraction, pixel)


def test_cut_mask_takes_the_lower_face(astronaut_bgr, astro_face):
    patch = cut_mask(astronaut_bgr, astro_face.box, astro_face.landmarks)
    assert patch is not None
    x0, y0, x1, y1 = astro_face.box
    nose_y = astro_face.landmarks[2 * NOSE + 1]
    assert patch.bgr.shape[1] <= x1 - x0
    assert (y1 - nose_y) < patch.bgr.shape[0] < (y1 - y0)          # from above the nose tip
    assert patch.alpha.shape == patch.bgr.shape[:2]
    tiny = (x0, y0, x0 + 12, y0 + 12)
    assert cut_mask(astronaut_bgr, tiny, astro_face.landmarks) is None


def test_synth_drops_bad_targets_and_samples_reproducibly(astronaut_bgr, astro_face):
    images = {"a": astronaut_bgr}
    good = ("a", astro_face.box, astro_face.landmarks)
    small = ("a", (0, 0, 10, 10), astro_face.landmarks)
    synth = IncorrectMaskSynth([good, small], [green_patch()])
    assert len(synth) == 1
    r1, b1 = synth.sample(0, images, np.random.default_rng(5))
    r2, b2 = synth.sample(0, images, np.random.default_rng(5))
    assert np.array_equal(r1, r2) and b1 == b2
    assert len(IncorrectMaskSynth([good], [])) == 0


def test_sampler_gives_synthetic_faces_their_share():
    import torch
    labels = [1] * 90 + [2] * 36 + [0] * 4      # with_mask, without_mask, incorrect
    sampler = train.make_sampler(labels, "sqrt", torch.Generator().manual_seed(0), 20, 1.0)
    w = sampler.weights.numpy()
    assert len(w) == 130 + 20 and sampler.num_samples == 130
    real_incorrect = w[126:130].sum()
    assert w[130:].sum() == pytest.approx(real_incorrect)
    none = train.make_sampler(labels, "sqrt", torch.Generator().manual_seed(0))
    assert len(none.weights) == 130


def test_training_with_synthetic_incorrect_masks(tmp_path, capsys):
    data = make_voc_scenes(str(tmp_path / "scenes"), n_images=12)
    out = str(tmp_path / "run")
    assert train.main(["--data", data, "--out", out, "--synth-incorrect", "1", "--epochs", "1",
                       "--input-size", "32", "--batch-size", "8", "--no-progress",
                       "--threads", "2"]) == 0
    line = [x for x in capsys.readouterr().out.splitlines() if x.startswith("synthetic")]
    assert line and " masks x " in line[0]
    n_masks, n_faces = int(line[0].split()[2]), int(line[0].split()[5])
    assert n_masks > 0 and n_faces > 0


def test_synthetic_masks_need_voc_scenes(tmp_path, capsys):
    from synthetic import make_crop_folders
    data = make_crop_folders(str(tmp_path / "crops"), per_class=4)
    assert train.main(["--data", data, "--out", str(tmp_path / "run"), "--synth-incorrect", "1",
                       "--epochs", "1", "--input-size", "32", "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--synth-incorrect" in err[0] and "need VOC scenes" in err[0]
