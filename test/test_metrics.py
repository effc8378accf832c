"""Classification metrics and plots (marrtino_facemask.lab.metrics)."""

import json
import warnings

import cv2
import numpy as np
import pytest

from marrtino_facemask.lab.metrics import (
    classification_report,
    confusion_matrix,
    plot_confusion_matrix,
    plot_training_curves,
)
from marrtino_facemask.labels import CLASS_NAMES

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_confusion_matrix_counts():
    y_true = [0, 0, 1, 1, 1, 2, 2, 2, 2]
    y_pred = [0, 1, 1, 1, 2, 2, 2, 0, 2]
    cm = confusion_matrix(y_true, y_pred, 3)
    assert cm.dtype == np.int64
    assert cm.tolist() == [[1, 1, 0], [0, 2, 1], [1, 0, 3]]
    assert confusion_matrix(np.array([2]), np.array([0]), 4).tolist()[2] == [1, 0, 0, 0]
    assert confusion_matrix([], [], 3).sum() == 0


def test_report_hand_computed():
    # rows: true class, columns: predicted class
    cm = [[5, 1, 0],
          [2, 8, 0],
          [0, 1, 3]]
    r = classification_report(cm, CLASS_NAMES)
    p = [5 / 7, 8 / 10, 3 / 3]
    rc = [5 / 6, 8 / 10, 3 / 4]
    f1 = [2 * a * b / (a + b) for a, b in zip(p, rc)]
    assert r["num_samples"] == 20
    assert r["accuracy"] == pytest.approx(16 / 20)
    for i, name in enumerate(CLASS_NAMES):
        c = r["per_class"][name]
        assert c["precision"] == pytest.approx(p[i])
        assert c["recall"] == pytest.approx(rc[i])
        assert c["f1"] == pytest.approx(f1[i])
    assert [r["per_class"][n]["support"] for n in CLASS_NAMES] == [6, 10, 4]
    assert r["macro_precision"] == pytest.approx(sum(p) / 3)
    assert r["macro_recall"] == pytest.approx(sum(rc) / 3)
    assert r["macro_f1"] == pytest.approx(sum(f1) / 3)
    assert r["confusion_matrix"] == cm
    assert r["class_names"] == list(CLASS_NAMES)


def test_report_excludes_zero_support_classes_from_macro_averages():
    cm = [[4, 1, 0],
          [0, 0, 0],      # no true sample of class 1 (but one predicted)
          [1, 0, 5]]
    with warnings.catch_warnings():
        warnings.simplefilter("error")            # no division-by-zero warnings
        r = classification_report(cm, CLASS_NAMES)
    c1 = r["per_class"][CLASS_NAMES[1]]
    assert c1 == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    p0, p2 = 4 / 5, 5 / 5
    r0, r2 = 4 / 5, 5 / 6
    f0, f2 = 2 * p0 * r0 / (p0 + r0), 2 * p2 * r2 / (p2 + r2)
    assert r["macro_precision"] == pytest.approx((p0 + p2) / 2)
    assert r["macro_recall"] == pytest.approx((r0 + r2) / 2)
    assert r["macro_f1"] == pytest.approx((f0 + f2) / 2)
    assert r["accuracy"] == pytest.approx(9 / 11)


def test_report_class_never_predicted():
    cm = [[0, 3], [0, 7]]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r = classification_report(cm, ["a", "b"])
    assert r["per_class"]["a"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 3}
    assert r["per_class"]["b"]["precision"] == pytest.approx(0.7)
    assert r["per_class"]["b"]["recall"] == 1.0
    assert r["macro_recall"] == pytest.approx(0.5)


def test_report_perfect_and_empty():
    perfect = classification_report(np.diag([3, 4, 5]), CLASS_NAMES)
    assert perfect["accuracy"] == 1.0 and perfect["macro_f1"] == 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        empty = classification_report(np.zeros((3, 3), int), CLASS_NAMES)
    assert empty["num_samples"] == 0
    assert empty["accuracy"] == empty["macro_f1"] == empty["macro_recall"] == 0.0


def test_report_is_plain_json():
    r = classification_report(np.array([[2, 1], [0, 3]], np.int64), ["a", "b"])
    assert json.loads(json.dumps(r)) == r
    assert type(r["accuracy"]) is float and type(r["num_samples"]) is int
    assert type(r["per_class"]["a"]["support"]) is int


def _check_png(path, min_width, min_height):
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert img is not None
    h, w = img.shape[:2]
    assert w >= min_width and h >= min_height, (w, h)
    assert img.std() > 5, "blank picture"
    return img


def test_plot_confusion_matrix(tmp_path):
    path = tmp_path / "cm.png"
    plot_confusion_matrix([[5, 1, 0], [2, 8, 0], [0, 1, 3]], CLASS_NAMES, str(path),
                          title="val")
    img = _check_png(path, 800, 350)
    assert img.shape[1] > img.shape[0]            # two panels side by side
    # the 'Blues' colormap is used: some clearly blue pixels
    b, g, r = (img[..., i].astype(int) for i in range(3))
    assert ((b - r) > 60).sum() > 1000


def test_plot_confusion_matrix_with_an_empty_row(tmp_path):
    path = tmp_path / "cm0.png"
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        plot_confusion_matrix([[4, 1, 0], [0, 0, 0], [1, 0, 5]], CLASS_NAMES, str(path))
    _check_png(path, 800, 350)


def test_plot_training_curves(tmp_path):
    rows = [{"epoch": e, "train_loss": 1.0 / e, "val_loss": 1.2 / e, "train_acc": 0.5 + 0.1 * e,
             "val_acc": 0.45 + 0.1 * e, "val_macro_f1": 0.3 + 0.1 * e,
             "val_macro_recall": 0.35 + 0.1 * e} for e in range(1, 5)]
    path = tmp_path / "curves.png"
    plot_training_curves(rows, str(path))
    img = _check_png(path, 1000, 300)
    assert img.shape[1] > 2 * img.shape[0]        # three panels side by side
