"""Drawing classified faces (marrtino_facemask.annotate)."""

import numpy as np
import pytest

from marrtino_facemask.annotate import annotate
from marrtino_facemask.labels import CLASS_COLORS_BGR, CLASS_NAMES, UNKNOWN_COLOR_BGR, color_for
from marrtino_facemask.pipeline import FaceMaskResult

BG = (60, 60, 60)


def _frame(height=480, width=640):
    frame = np.empty((height, width, 3), np.uint8)
    frame[:] = BG
    return frame


def _result(box, label="with_mask", score=0.9):
    return FaceMaskResult(box=box, face_score=0.99, label=label, score=score,
                          scores={label: score})


def _assert_border(out, box, color):
    x0, y0, x1, y1 = box
    ym, xm = (y0 + y1) // 2, (x0 + x1) // 2
    for (x, y) in [(x0, ym), (x1 - 1, ym), (xm, y1 - 1)]:   # left, right, bottom edges
        assert tuple(out[y, x]) == tuple(color), ((x, y), tuple(out[y, x]), color)


def test_colors_are_defined_for_every_class():
    assert set(CLASS_COLORS_BGR) == set(CLASS_NAMES)
    assert len(set(CLASS_COLORS_BGR.values())) == 3
    assert color_for("bogus") == UNKNOWN_COLOR_BGR
    assert UNKNOWN_COLOR_BGR not in CLASS_COLORS_BGR.values()


def test_annotate_returns_a_new_array_and_leaves_the_input():
    frame = _frame()
    before = frame.copy()
    out = annotate(frame, [_result((100, 120, 200, 260), "without_mask")])
    np.testing.assert_array_equal(frame, before)
    assert out is not frame and not np.shares_memory(out, frame)
    assert out.shape == frame.shape and out.dtype == frame.dtype
    assert (out != frame).any()


def test_annotate_without_results_is_an_equal_copy():
    frame = _frame()
    out = annotate(frame, [])
    assert out is not frame
    np.testing.assert_array_equal(out, frame)


@pytest.mark.parametrize("label", list(CLASS_NAMES) + ["something_else"])
def test_box_border_has_the_class_colour(label):
    box = (100, 150, 220, 300)
    out = annotate(_frame(), [_result(box, label)])
    _assert_border(out, box, color_for(label))
    # the inside of the box is not painted
    assert tuple(out[225, 160]) == BG
    # the label is drawn just above the box (there is room)
    assert (out[100:150, 100:220] != BG).any()


def test_three_faces_three_colours():
    boxes = {"with_mask": (20, 100, 120, 220), "without_mask": (250, 100, 350, 220),
             "mask_weared_incorrect": (480, 100, 600, 220)}
    out = annotate(_frame(), [_result(b, lbl) for lbl, b in boxes.items()])
    for lbl, b in boxes.items():
        _assert_border(out, b, CLASS_COLORS_BGR[lbl])


@pytest.mark.parametrize("thickness", [1, 3])
def test_explicit_thickness(thickness):
    box = (100, 150, 220, 300)
    out = annotate(_frame(), [_result(box, "without_mask")], thickness=thickness)
    color = CLASS_COLORS_BGR["without_mask"]
    x0, y0, x1, y1 = box
    ym = (y0 + y1) // 2
    # cv2's rectangle draws ~thickness px centred on the line: x0 is painted, a few
    # pixels further inside are not
    assert tuple(out[ym, x0]) == color
    assert tuple(out[ym, x0 + thickness + 1]) == BG


@pytest.mark.parametrize("box", [
    (200, 0, 300, 120),        # touching the top: label goes below the box
    (0, 0, 640, 480),          # the whole frame
    (540, 380, 640, 480),      # bottom-right corner
    (0, 200, 30, 230),         # left edge, small
])
def test_faces_at_the_frame_edge(box):
    frame = _frame()
    out = annotate(frame, [_result(box, "with_mask", 0.51)])
    assert out.shape == frame.shape and out.dtype == np.uint8
    _assert_border(out, box, CLASS_COLORS_BGR["with_mask"])


def test_label_below_a_box_touching_the_top():
    box = (200, 0, 300, 120)
    out = annotate(_frame(), [_result(box, "without_mask")])
    assert (out[121:150, 200:300] != BG).any(), "no label drawn below the box"


def test_tiny_frame():
    frame = _frame(24, 32)
    out = annotate(frame, [_result((2, 2, 20, 20), "mask_weared_incorrect")])
    assert out.shape == (24, 32, 3)
    # the label has no room above or below and covers the lower part; the left edge stays
    assert tuple(out[8, 2]) == CLASS_COLORS_BGR["mask_weared_incorrect"]


def test_the_track_id_is_drawn_before_the_label():
    box = (100, 150, 220, 300)
    plain = annotate(_frame(), [_result(box, "without_mask")])
    tracked_result = _result(box, "without_mask")
    tracked_result.track_id = "12"
    tracked = annotate(_frame(), [tracked_result])
    colour = np.array(color_for("without_mask"))
    # the label's filled background above the box is wider with "#12 " in front
    widths = [int((img[box[1] - 5] == colour).all(axis=1).sum()) for img in (plain, tracked)]
    assert widths[1] > widths[0] > 0
