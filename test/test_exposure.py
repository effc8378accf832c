"""Dim frames brightened before the models see them (exposure.py), and what the real detector
makes of them.
"""

import cv2
import numpy as np
import pytest

from marrtino_facemask.exposure import (
    DEFAULT_MIN_WHITE_LEVEL,
    MAX_GAIN,
    BrightenedImages,
    brighten,
    check_min_white_level,
    white_level,
)


def poster(astronaut_bgr):
    """176 faces of about 40 px, tiled (the max_faces test's poster)."""
    face = cv2.resize(astronaut_bgr[30:230, 150:330], (40, 44), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(np.tile(face, (11, 17, 1))[:480, :640])


def test_white_level_is_the_99th_percentile_of_luma():
    grey = np.zeros((400, 400), np.uint8)
    grey[:, :396] = 50                       # 99 % of the pixels at 50, 1 % at 250
    grey[:, 396:] = 250
    assert white_level(grey) == 50
    grey[:, 380:] = 250                      # 5 % bright: the white level is theirs
    assert white_level(grey) == 250
    bgr = np.zeros((100, 100, 3), np.uint8)
    bgr[..., 1] = 200                        # pure green: luma 0.587 * 200
    assert white_level(bgr) == pytest.approx(117, abs=1)


def test_bright_frames_are_left_untouched(astronaut_bgr):
    frame, gain = brighten(astronaut_bgr)
    assert frame is astronaut_bgr and gain == 1.0
    dim = (astronaut_bgr * 0.25).astype(np.uint8)
    frame, gain = brighten(dim, min_white_level=0)              # 0: never
    assert frame is dim and gain == 1.0


def test_a_dim_frame_is_lifted_to_the_white_level(astronaut_bgr):
    dim = (astronaut_bgr * 0.25).astype(np.uint8)
    level = white_level(dim)
    assert level < DEFAULT_MIN_WHITE_LEVEL
    frame, gain = brighten(dim)
    assert gain == pytest.approx(DEFAULT_MIN_WHITE_LEVEL / level)
    assert abs(white_level(frame) - DEFAULT_MIN_WHITE_LEVEL) <= 3
    assert frame.shape == dim.shape and frame.dtype == np.uint8
    # a linear gain: each channel scaled alike, so the hue is kept
    np.testing.assert_allclose(frame.astype(float), np.clip(dim * gain, 0, 255), atol=0.51)
    assert white_level(dim) == level                            # the input is not modified


def test_the_gain_is_bounded_and_the_output_never_darkens_as_the_input_brightens(
        astronaut_bgr):
    black = np.full((48, 64, 3), 5, np.uint8)
    frame, gain = brighten(black)
    assert gain == MAX_GAIN and int(frame.max()) == 40
    inputs, outputs = [], []
    for scale in np.linspace(0.02, 1.0, 50):
        image = (astronaut_bgr * scale).astype(np.uint8)
        frame, gain = brighten(image)
        assert 1.0 <= gain <= MAX_GAIN
        inputs.append(white_level(image))
        outputs.append(white_level(frame))
    assert outputs[-1] == inputs[-1] and min(outputs[:20]) < DEFAULT_MIN_WHITE_LEVEL
    for (a, b), (x, y) in zip(zip(outputs, outputs[1:]), zip(inputs, inputs[1:])):
        assert a - 2 <= b <= a + MAX_GAIN * (y - x) + 2, (inputs, outputs)   # no jump


def test_any_image_shape_works():
    for image, expected in ((np.zeros((1, 1, 3), np.uint8), MAX_GAIN),
                            (np.full((3, 2000), 40, np.uint8), 4.0),
                            (np.full((30, 20, 1), 80, np.uint8), 2.0),
                            (np.zeros((2000, 3, 3), np.uint8), MAX_GAIN),
                            (np.zeros((600, 800, 3), np.uint8)[::2, 1::3], MAX_GAIN)):
        frame, gain = brighten(image)
        assert frame.shape == image.shape and frame.dtype == np.uint8 and gain == expected
    with pytest.raises(ValueError, match="8-bit"):
        brighten(np.zeros((4, 4), np.uint16))


def test_bad_levels_are_one_line():
    assert check_min_white_level(0) == 0 and check_min_white_level(np.int64(255)) == 255
    for bad in (-1, 256, 1.5, True, "160", None):
        with pytest.raises(ValueError) as err:
            check_min_white_level(bad)
        assert "\n" not in str(err.value) and "[0, 255]" in str(err.value)


def test_brightened_images_serve_the_node_view_and_cache_it(astronaut_bgr):
    dim = (astronaut_bgr * 0.2).astype(np.uint8)
    source = {"dim": dim, "bright": astronaut_bgr}
    images = BrightenedImages(source)
    assert images["bright"] is astronaut_bgr
    assert np.array_equal(images["dim"], brighten(dim)[0])
    assert images["dim"] is images["dim"]
    assert BrightenedImages(source, 0)["dim"] is dim


def test_the_detector_finds_faces_in_a_dark_frame_only_brightened(astronaut_bgr):
    """176 real faces of about 40 px at a fifteenth of the light: CenterFace finds none as
    is; brightened (the pipeline's default), it finds them where they are.
    """
    from marrtino_facemask.centerface import CenterFaceDetector
    bright = poster(astronaut_bgr)
    dark = (bright * 0.07).astype(np.uint8)
    detector = CenterFaceDetector(confidence=0.3, min_face_size=8)
    assert len(detector.detect(bright)) > 150
    assert detector.detect(dark) == []
    found = detector.detect(brighten(dark)[0])
    assert len(found) > 150
    for face in found:                        # each on one tile of the 40x44 grid
        cx, cy = (face.box[0] + face.box[2]) / 2, (face.box[1] + face.box[3]) / 2
        assert abs((cx % 40) - 20) < 10 and abs((cy % 44) - 22) < 12, face.box


def test_the_pipeline_brightens_before_both_models(astronaut_bgr, node_model):
    from marrtino_facemask import config
    from marrtino_facemask.pipeline import FaceMaskPipeline
    dark = (poster(astronaut_bgr) * 0.07).astype(np.uint8)
    on = config.build_pipeline(config.settings(model_path=node_model))
    off = config.build_pipeline(config.settings(model_path=node_model, min_white_level=0))
    assert on.min_white_level == DEFAULT_MIN_WHITE_LEVEL
    assert off(dark) == [] and len(on(dark)) > 150
    crops = []                                 # what the classifier is given: brightened crops
    predict = on.classifier.predict
    on.classifier.predict = lambda batch, *a, **k: crops.extend(batch) or predict(batch, *a, **k)
    on(dark)
    assert crops and np.mean([c.mean() for c in crops]) > 4 * dark.mean()
    assert on.prepare(astronaut_bgr) is astronaut_bgr
    with pytest.raises(ValueError, match=r"\[0, 255\]"):
        FaceMaskPipeline(on.face_detector, on.classifier, min_white_level=300)
    with pytest.raises(ValueError, match=r"\[0, 255\]"):
        config.settings(min_white_level=300)


def test_the_default_changes_no_validation_photo():
    """The default level is below the white level of every one of the 135 face_mask_scenes
    photos that the shipped detector was not fine-tuned on (0.1.0's validation split: seed 0,
    a fifth of the photos), so the figures measured on them hold with it (exposure.py).
    """
    import os

    from marrtino_facemask.lab.real_samples import split_side
    dataset = os.environ.get("FACE_MASK_SCENES", os.path.join(
        os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "..", "shared", "data",
        "face_mask_scenes"))
    if not os.path.isdir(dataset):
        pytest.skip(f"no face_mask_scenes dataset at {dataset}")
    root, samples = split_side(dataset, None, "val", {"seed": 0, "val_fraction": 0.2})
    photos = sorted({s.image for s in samples})
    assert len(photos) == 135
    levels = [white_level(cv2.imread(os.path.join(root, rel))) for rel in photos]
    assert min(levels) >= DEFAULT_MIN_WHITE_LEVEL
