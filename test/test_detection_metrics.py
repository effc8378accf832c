"""Detection metrics: IoU, one-to-one matching, recall tables and PASCAL VOC AP."""

import numpy as np
import pytest

from marrtino_facemask.lab.detection_metrics import (
    SIZE_BINS,
    PerPhotoAP,
    average_precision,
    box_side,
    iou_matrix,
    match_boxes,
    photo_bootstrap,
    recall_table,
    size_bin,
    voc_average_precision,
    voc_true_positives,
)


def test_size_bins_use_the_longer_side():
    assert SIZE_BINS == ("<16", "16-24", "24-48", "48-96", ">=96")
    assert [size_bin(s) for s in (0, 15.9, 16, 23, 24, 47, 48, 95, 96, 500)] == [
        "<16", "<16", "16-24", "16-24", "24-48", "24-48", "48-96", "48-96", ">=96", ">=96"]
    assert box_side((10, 10, 20, 40)) == 30


def test_iou_matrix():
    ious = iou_matrix([(0, 0, 10, 10), (100, 100, 110, 110)], [(5, 0, 15, 10), (0, 0, 10, 10)])
    np.testing.assert_allclose(ious, [[50 / 150, 1.0], [0.0, 0.0]])
    assert iou_matrix([], [(0, 0, 1, 1)]).shape == (0, 1)


def test_matching_is_one_to_one_and_maximises_the_total_overlap():
    # greedy (best pair first) would give gt0 the det that gt1 needs and leave gt1 unmatched
    gt = [(0, 0, 10, 10), (6, 0, 16, 10)]
    det = [(3, 0, 13, 10), (0, 0, 7, 10)]
    assert match_boxes(gt, det, 0.3) == {0: 1, 1: 0}
    assert match_boxes(gt, det, 0.9) == {}
    assert match_boxes([], det, 0.3) == {} and match_boxes(gt, [], 0.3) == {}


def test_voc_ap_all_point_interpolation_by_hand():
    # 5 labelled faces; detections by score: TP, FP, TP, TP, FP, TP
    # precision at each TP: 1/1, 2/3, 3/4, 4/6; envelope 1, 0.75, 0.75, 0.667
    ap = voc_average_precision([0.9, 0.8, 0.7, 0.6, 0.5, 0.4], [1, 0, 1, 1, 0, 1], 5)
    assert ap == pytest.approx(0.2 * 1 + 0.2 * 0.75 + 0.2 * 0.75 + 0.2 * (4 / 6))
    assert voc_average_precision([0.9], [1], 1) == pytest.approx(1.0)
    assert voc_average_precision([0.9, 0.1], [0, 0], 2) == 0.0
    assert voc_average_precision([], [], 3) == 0.0
    assert np.isnan(voc_average_precision([0.9], [0], 0))
    # only the order of the scores counts
    assert (voc_average_precision([4, 3, 2, 1, 0.5, 0.1], [1, 0, 1, 1, 0, 1], 5)
            == pytest.approx(ap))


def test_voc_protocol_duplicates_are_false_positives():
    gt = [(0, 0, 10, 10)]
    images = [(gt, [(0, 0, 10, 10), (1, 0, 11, 10), (50, 50, 60, 60)], [0.9, 0.8, 0.7])]
    scores, tp, n = voc_true_positives(images, 0.5)
    assert tp.tolist() == [True, False, False] and n == 1
    assert average_precision(images) == pytest.approx(1.0)
    # a higher-scored box under the IoU threshold is a false positive and claims nothing
    images = [(gt, [(0, 0, 10, 10), (0, 0, 10, 25)], [0.5, 0.9])]
    assert voc_true_positives(images, 0.5)[1].tolist() == [True, False]
    # at the threshold it claims the face first, and the better box becomes the duplicate
    images = [(gt, [(0, 0, 10, 10), (0, 0, 10, 20)], [0.5, 0.9])]
    assert voc_true_positives(images, 0.5)[1].tolist() == [False, True]
    # a missed face lowers recall, hence AP
    images = [([(0, 0, 10, 10), (20, 20, 30, 30)], [(0, 0, 10, 10)], [0.9])]
    assert average_precision(images) == pytest.approx(0.5)


def test_recall_table_by_size():
    faces = [((0, 0, 10, 10), 0), ((0, 0, 20, 10), 1), ((0, 0, 30, 30), 1), ((0, 0, 30, 30), 2)]
    table = recall_table(faces, [True, False, True, False])
    assert table["<16"] == {"faces": 1, "found": 1, "recall": 1.0}
    assert table["16-24"]["recall"] == 0.0
    assert table["24-48"] == {"faces": 2, "found": 1, "recall": 0.5}
    assert "48-96" not in table
    assert table["all"] == {"faces": 4, "found": 2, "recall": 0.5}


def photo(hit, score):
    """A photo with one labelled face and one detection: on the face (hit) or elsewhere."""
    det = (0, 0, 10, 10) if hit else (50, 50, 60, 60)
    return ([(0, 0, 10, 10)], [det], [score])


def test_per_photo_ap_pools_the_chosen_photos_like_the_whole_set():
    rng = np.random.default_rng(1)
    images = [photo(rng.random() < 0.7, rng.random()) for _ in range(40)]
    per_photo = PerPhotoAP(images)
    assert per_photo.ap(np.arange(40)) == pytest.approx(average_precision(images))
    idx = rng.integers(0, 40, 40)                     # a resampling, with repeats
    assert per_photo.ap(idx) == pytest.approx(average_precision([images[i] for i in idx]))


def test_photo_bootstrap_brackets_the_estimate_and_is_seeded():
    rng = np.random.default_rng(2)
    images = [photo(rng.random() < 0.7, rng.random()) for _ in range(60)]
    per_photo = PerPhotoAP(images)
    low, high = photo_bootstrap(60, per_photo.ap, resamples=500, seed=3)
    assert low < average_precision(images) < high
    assert 0.05 < high - low < 0.6
    assert photo_bootstrap(60, per_photo.ap, resamples=500, seed=3) == (low, high)
    # photos that are all alike leave nothing to resample: the interval is the value
    same = PerPhotoAP([photo(True, 0.9)] * 30)
    assert photo_bootstrap(30, same.ap, resamples=200) == (1.0, 1.0)
    # more photos of the same kind give a narrower interval
    more = PerPhotoAP(images * 4)
    low4, high4 = photo_bootstrap(240, more.ap, resamples=500, seed=3)
    assert high4 - low4 < high - low
