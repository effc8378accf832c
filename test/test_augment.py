"""Training crops: jitter and photometric changes, box and aligned crops, seeded."""

import numpy as np

from marrtino_facemask.crops import crop_aligned, crop_face
from marrtino_facemask.lab import augment
from marrtino_facemask.lab.crop_dataset import CropDataset
from marrtino_facemask.lab.data import FaceSample

FACE = (180.0, 60.0, 300.0, 210.0)   # the astronaut's face, roughly


def test_a_training_crop_is_the_jittered_box_crop_then_photometric(astronaut_bgr):
    a, b = np.random.default_rng(4), np.random.default_rng(4)
    got = augment.augmented_crop(astronaut_bgr, FACE, 96, 0.15, a)
    box = augment.jitter_box(FACE, b)
    want = augment.photometric(crop_face(astronaut_bgr, box, 96, 0.15), b)
    assert np.array_equal(got, want)
    assert a.random() == b.random()


def test_the_similarity_jitter_stays_small_and_keeps_the_centre():
    rng = np.random.default_rng(0)
    for _ in range(50):
        m = augment.similarity_jitter(96, rng)
        scale = np.sqrt(abs(np.linalg.det(m[:2, :2])))
        assert 0.93 <= scale <= 1.07 and np.allclose(m[2], (0, 0, 1))
        centre = m[:2] @ np.array([48.0, 48.0, 1.0])
        assert np.abs(centre - 48).max() <= 0.04 * 96 + 1e-9


def _faces(astronaut_bgr):
    from marrtino_facemask.detectors import make_face_detector
    face = make_face_detector().detect(astronaut_bgr)[0]
    sample = FaceSample("astronaut", face.box, 2)
    return {"astronaut": astronaut_bgr}, sample, face


def test_training_crops_are_seeded_and_at_the_input_size(astronaut_bgr):
    images, sample, face = _faces(astronaut_bgr)
    matches = {sample: (face.box, face.landmarks)}

    def crops(seed, **kw):
        ds = CropDataset([sample] * 6, images, 48, 0.15, seed, matches, **kw)
        return [ds[i] for i in range(6)]

    for kw in ({}, {"align": True}):
        first, again, other = crops(0, **kw), crops(0, **kw), crops(1, **kw)
        assert all(c.shape == (48, 48, 3) and label == 2 for c, label in first)
        assert all(np.array_equal(a, b) for (a, _), (b, _) in zip(first, again))
        assert not all(np.array_equal(a, b) for (a, _), (b, _) in zip(first, other))


def test_aligned_training_crops_are_near_the_aligned_crop(astronaut_bgr):
    """With --align, a found face is cut aligned on its landmarks (then jittered a little,
    maybe mirrored, recoloured): its brightness pattern is closer to the aligned crop's than
    to the box crop's, most of the time.
    """
    images, sample, face = _faces(astronaut_bgr)
    ds = CropDataset([sample], images, 64, 0.15, 0, {sample: (face.box, face.landmarks)},
                     align=True)

    def gray(img):
        g = img.astype(float).mean(axis=2)
        return (g - g.mean()) / (g.std() + 1e-9)

    aligned = gray(crop_aligned(astronaut_bgr, face.box, face.landmarks, 64)[0])
    box = gray(crop_face(astronaut_bgr, face.box, 64))

    def distance(crop, ref):     # a mirrored crop is compared mirrored back too
        return min(np.abs(crop - ref).mean(), np.abs(crop[:, ::-1] - ref).mean())

    closer = sum(distance(gray(c), aligned) < distance(gray(c), box)
                 for c in (ds[0][0] for _ in range(20)))
    assert closer >= 14, closer
