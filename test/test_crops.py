"""Face crop geometry (marrtino_facemask.crops): square box, margin, padding, placement."""

import numpy as np
import pytest

from marrtino_facemask.crops import DEFAULT_MARGIN, crop_face, square_box

GREY = (90, 90, 90)
RED = (0, 0, 255)


def _frame(height=200, width=300, color=GREY):
    frame = np.empty((height, width, 3), np.uint8)
    frame[:] = color
    return frame


def _coded_frame(height=200, width=300):
    """Every pixel has a distinct (x, y)-derived colour, so copies can be checked exactly."""
    ys, xs = np.mgrid[0:height, 0:width]
    frame = np.stack([xs % 256, ys % 256, (xs // 256) * 60 + (ys // 256) * 120 + 7], axis=-1)
    return frame.astype(np.uint8)


# --------------------------------------------------------------------------- square_box
def _random_boxes(n=50, seed=3):
    rng = np.random.default_rng(seed)
    for _ in range(n):
        x0, y0 = rng.uniform(-50, 400, size=2)
        w, h = rng.uniform(1, 200, size=2)
        yield (x0, y0, x0 + w, y0 + h)


@pytest.mark.parametrize("margin", [0.0, DEFAULT_MARGIN, 0.4])
def test_square_box_is_square_centred_and_widened(margin):
    for box in _random_boxes():
        x0, y0, x1, y1 = square_box(box, margin)
        assert all(isinstance(v, int) for v in (x0, y0, x1, y1))
        side = x1 - x0
        assert side == y1 - y0, f"not square: {box} -> {(x0, y0, x1, y1)}"
        w, h = box[2] - box[0], box[3] - box[1]
        assert abs(side - max(w, h) * (1 + 2 * margin)) <= 1.0, (box, margin, side)
        # centred on the face (integer rounding: at most one pixel off)
        assert abs((x0 + x1) / 2 - (box[0] + box[2]) / 2) <= 1.0
        assert abs((y0 + y1) / 2 - (box[1] + box[3]) / 2) <= 1.0
        # the face's longer side plus the margin is inside the square
        if max(w, h) >= 4:
            long_lo, long_hi = ((box[0], box[2]) if w >= h else (box[1], box[3]))
            lo, hi = (x0, x1) if w >= h else (y0, y1)
            assert lo <= long_lo + 1 and hi >= long_hi - 1


def test_square_box_hand_computed():
    # 40 x 60 box, margin 0.15: side 60 * 1.3 = 78 around the centre (120, 80)
    assert square_box((100, 50, 140, 110), 0.15) == (81, 41, 159, 119)
    assert square_box((10, 20, 30, 40), 0.0) == (10, 20, 30, 40)
    # the default margin is the one the node and the training use
    assert square_box((100, 50, 140, 110)) == square_box((100, 50, 140, 110), DEFAULT_MARGIN)


def test_square_box_never_empty_for_a_sub_pixel_face():
    x0, y0, x1, y1 = square_box((10.0, 10.0, 10.2, 10.3), 0.0)
    assert x1 - x0 == y1 - y0 == 1


@pytest.mark.parametrize("box", [(10, 10, 10, 20), (10, 10, 20, 10), (20, 10, 10, 30),
                                 (10, 30, 20, 10), (5, 5, 5, 5)])
def test_square_box_rejects_empty_boxes(box):
    with pytest.raises(ValueError, match="empty face box"):
        square_box(box)


# --------------------------------------------------------------------------- crop_face
@pytest.mark.parametrize("box", [
    (100, 60, 140, 100),      # inside
    (0, 0, 40, 40),           # touching the top-left corner
    (260, 160, 300, 200),     # touching the bottom-right corner
    (-30, 150, 20, 230),      # partly outside, left and bottom
    (250, -40, 340, 30),      # partly outside, top and right
    (-100, -100, 400, 300),   # larger than the frame on every side
    (150, 100, 152, 103),     # tiny: upscaled
])
@pytest.mark.parametrize("size", [32, 96])
def test_crop_face_shape_dtype_contiguous(box, size):
    crop = crop_face(_coded_frame(), box, size)
    assert crop.shape == (size, size, 3)
    assert crop.dtype == np.uint8
    assert crop.flags["C_CONTIGUOUS"]


def test_crop_face_does_not_modify_the_frame():
    frame = _coded_frame()
    before = frame.copy()
    crop = crop_face(frame, (-30, 150, 20, 230), 64)
    crop[:] = 0
    np.testing.assert_array_equal(frame, before)


def test_crop_face_inside_is_an_exact_copy_at_native_size():
    frame = _coded_frame()
    # margin 0, side 40 -> size 40: no padding, no scaling
    crop = crop_face(frame, (100, 60, 140, 100), 40, margin=0.0)
    np.testing.assert_array_equal(crop, frame[60:100, 100:140])
    # touching the bottom-right corner exactly (x_max == width, y_max == height)
    crop = crop_face(frame, (260, 160, 300, 200), 40, margin=0.0)
    np.testing.assert_array_equal(crop, frame[160:200, 260:300])


def test_crop_face_pads_by_replicating_the_border_top_left():
    frame = _coded_frame()
    # box (0,0,40,40), margin 0.25: square (-10,-10,50,50), 60 px -> no scaling at size 60
    crop = crop_face(frame, (0, 0, 40, 40), 60, margin=0.25)
    np.testing.assert_array_equal(crop[10:, 10:], frame[0:50, 0:50])
    for row in range(10):                       # rows above the frame repeat row 0
        np.testing.assert_array_equal(crop[row, 10:], frame[0, 0:50])
    for col in range(10):                       # columns left of it repeat column 0
        np.testing.assert_array_equal(crop[10:, col], frame[0:50, 0])
    assert (crop[:10, :10] == frame[0, 0]).all()  # the corner repeats the corner pixel


def test_crop_face_pads_by_replicating_the_border_bottom_right():
    frame = _coded_frame()
    # box (270,170,310,210): square (260,160,320,220) with margin 0.25 -> 20 px outside
    crop = crop_face(frame, (270, 170, 310, 210), 60, margin=0.25)
    np.testing.assert_array_equal(crop[:40, :40], frame[160:200, 260:300])
    for row in range(40, 60):
        np.testing.assert_array_equal(crop[row, :40], frame[199, 260:300])
    for col in range(40, 60):
        np.testing.assert_array_equal(crop[:40, col], frame[160:200, 299])
    assert (crop[40:, 40:] == frame[199, 299]).all()


def test_crop_face_partly_outside_has_no_black_fill():
    frame = _frame(color=(40, 200, 120))
    for box in [(-60, -60, 20, 20), (280, 180, 360, 260), (-200, 50, 10, 120)]:
        crop = crop_face(frame, box, 64)
        assert (crop == (40, 200, 120)).all(), f"padding is not the replicated border for {box}"


def test_crop_face_places_a_square_pattern_in_the_centre():
    frame = _frame()
    frame[60:100, 100:140] = RED            # a 40 px red "face"
    size = 60
    # margin 0.25: the crop covers 60 px around it, the red square fills the central 2/3
    crop = crop_face(frame, (100, 60, 140, 100), size, margin=0.25)
    red = np.all(crop == RED, axis=-1)
    ys, xs = np.nonzero(red)
    assert (ys.min(), ys.max(), xs.min(), xs.max()) == (10, 49, 10, 49)
    assert red.sum() == 40 * 40
    grey = np.all(crop == GREY, axis=-1)
    assert grey.sum() == size * size - 40 * 40

    # the same at another size (scaled): the red block stays centred, 2/3 of the side
    crop = crop_face(frame, (100, 60, 140, 100), 96, margin=0.25)
    reddish = (crop[..., 2] > 170) & (crop[..., 0] < 60)
    ys, xs = np.nonzero(reddish)
    for lo, hi in ((ys.min(), ys.max()), (xs.min(), xs.max())):
        assert abs(lo - 16) <= 2 and abs(hi - 79) <= 2, (lo, hi)
    assert np.all(crop[20:76, 20:76] == RED)
    assert np.all(crop[:12, :] == GREY) and np.all(crop[-12:, :] == GREY)

    # margin 0: the crop is all red
    crop = crop_face(frame, (100, 60, 140, 100), 32, margin=0.0)
    assert np.all(crop == RED)


def test_crop_face_of_a_non_square_box_keeps_the_aspect_ratio():
    frame = _frame()
    frame[50:130, 130:170] = RED            # 40 wide x 80 tall
    crop = crop_face(frame, (130, 50, 170, 130), 80, margin=0.0)  # square 80 px, no scaling
    red = np.all(crop == RED, axis=-1)
    ys, xs = np.nonzero(red)
    assert (ys.min(), ys.max()) == (0, 79)
    assert (xs.min(), xs.max()) == (20, 59)


@pytest.mark.parametrize("box", [(10, 10, 10, 20), (50, 50, 40, 60), (0, 0, 0, 0)])
def test_crop_face_rejects_empty_boxes(box):
    with pytest.raises(ValueError, match="empty face box"):
        crop_face(_frame(), box, 32)


@pytest.mark.parametrize("box", [(500, 500, 600, 600), (-300, -300, -200, -200),
                                 (320, 10, 360, 50), (10, -120, 50, -80)])
def test_crop_face_rejects_boxes_fully_outside(box):
    with pytest.raises(ValueError, match="outside the 300x200 image"):
        crop_face(_frame(), box, 32)
