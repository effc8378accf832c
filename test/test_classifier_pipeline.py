"""MaskClassifier and FaceMaskPipeline on the shipped int8 ONNX classifier, as the node runs
them (ONNX Runtime, no torch). The lab's torch classifier: test_classifier_torch.py.
"""

import json
import os
import shutil

import numpy as np
import pytest
from synthetic import smooth_crops

from marrtino_facemask import config
from marrtino_facemask.classifier import MaskClassifier, onnx_file, open_net, to_input_batch
from marrtino_facemask.crops import crop_face
from marrtino_facemask.detectors import make_face_detector
from marrtino_facemask.labels import CLASS_NAMES
from marrtino_facemask.model_file import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    ModelError,
    default_model_path,
)
from marrtino_facemask.pipeline import FaceMaskPipeline, FaceMaskResult, results_from_probs

ASTRONAUT_FACE = (179, 57, 272, 178)


@pytest.fixture(scope="module")
def clf(node_model):
    return MaskClassifier(node_model)


@pytest.fixture(scope="module")
def astro(astronaut_bgr):
    return astronaut_bgr


@pytest.fixture(scope="module")
def pipeline(node_model):
    return config.build_pipeline(config.settings(model_path=node_model))


# --------------------------------------------------------------------------- input batch
def test_to_input_batch_converts_bgr_to_normalised_rgb():
    crops = [np.zeros((8, 8, 3), np.uint8), np.zeros((8, 8, 3), np.uint8)]
    crops[0][:] = (255, 0, 0)       # pure blue in BGR
    crops[1][:] = (0, 128, 255)     # orange in BGR
    batch = to_input_batch(crops, IMAGENET_MEAN, IMAGENET_STD)
    assert batch.shape == (2, 3, 8, 8) and batch.dtype == np.float32
    assert batch.flags["C_CONTIGUOUS"]
    mean, std = np.array(IMAGENET_MEAN), np.array(IMAGENET_STD)
    expected = [(np.array([0.0, 0.0, 1.0]) - mean) / std,       # RGB order
                (np.array([1.0, 128 / 255, 0.0]) - mean) / std]
    for i in range(2):
        for c in range(3):
            np.testing.assert_allclose(batch[i, c], np.full((8, 8), expected[i][c]),
                                       atol=1e-5, err_msg=f"{i}, {c}")


def test_to_input_batch_does_not_modifysmooth_crops():
    crops = smooth_crops(2)
    before = [c.copy() for c in crops]
    to_input_batch(crops, IMAGENET_MEAN, IMAGENET_STD)
    for a, b in zip(crops, before):
        np.testing.assert_array_equal(a, b)


# --------------------------------------------------------------------------- classifier
def test_the_shipped_classifier_is_the_default_and_int8(clf, node_model):
    assert os.path.samefile(default_model_path(), node_model)
    assert clf.class_names == CLASS_NAMES
    assert clf.input_size == 96
    assert clf.margin == pytest.approx(0.15)
    assert clf.backend == "onnxruntime" and clf.precision == "int8"
    assert clf.path == node_model
    assert tuple(clf.mean) == pytest.approx(IMAGENET_MEAN)
    assert tuple(clf.std) == pytest.approx(IMAGENET_STD)


def test_predict_gives_probabilities(clf):
    probs = clf.predict(smooth_crops(5))
    assert probs.shape == (5, 3) and probs.dtype == np.float32
    assert np.all(probs >= 0) and np.all(probs <= 1)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    # different inputs, different outputs (the model really runs on the pixels)
    assert np.abs(probs[0] - probs[1]).max() > 1e-6


def test_predict_empty(clf):
    empty = clf.predict([])
    assert empty.shape == (0, 3) and empty.dtype == np.float32


def test_predict_batch_equals_one_by_one(clf):
    crops = smooth_crops(3, seed=1)
    batch = clf.predict(crops)
    single = np.concatenate([clf.predict([c]) for c in crops])
    np.testing.assert_allclose(batch, single, atol=1e-5)
    np.testing.assert_allclose(clf.predict(crops), batch, atol=1e-6)   # deterministic
    np.testing.assert_allclose(clf.predict(crops, batch_size=2), batch, atol=1e-5)


def test_predict_accepts_a_numpy_batch(clf):
    crops = smooth_crops(3, seed=2)
    np.testing.assert_allclose(clf.predict(np.stack(crops)), clf.predict(crops), atol=1e-6)


def test_classifier_crop_uses_the_model_s_geometry(clf, astro):
    crop = clf.crop(astro, ASTRONAUT_FACE)
    assert crop.shape == (96, 96, 3) and crop.dtype == np.uint8
    np.testing.assert_array_equal(crop, crop_face(astro, ASTRONAUT_FACE, 96, 0.15))


def test_onnx_file_of_a_checkpoint_prefers_its_int8_file(tmp_path):
    assert onnx_file("/x/model.onnx") == "/x/model.onnx"
    pt = tmp_path / "net.pt"
    assert onnx_file(str(pt)) == str(tmp_path / "net.onnx")
    (tmp_path / "net_int8.onnx").write_bytes(b"")
    assert onnx_file(str(pt)) == str(tmp_path / "net_int8.onnx")


def test_missing_model_and_unknown_backend_are_refused(tmp_path, node_model):
    with pytest.raises(ModelError, match="not found"):
        MaskClassifier(str(tmp_path / "none.onnx"))
    pt = tmp_path / "trained.pt"
    pt.write_bytes(b"not read")
    with pytest.raises(ModelError, match="no ONNX file"):
        open_net(str(pt))
    with pytest.raises(ValueError, match="onnxruntime, openvino"):
        MaskClassifier(node_model, backend="torch")


def test_a_copy_of_the_shipped_file_runs_the_same(clf, tmp_path, node_model):
    copy = tmp_path / "copy_int8.onnx"
    shutil.copy(node_model, copy)
    other = MaskClassifier(str(copy))
    crops = smooth_crops(2, seed=3)
    np.testing.assert_allclose(other.predict(crops), clf.predict(crops), atol=1e-6)


# --------------------------------------------------------------------------- results
def test_results_from_probs():
    probs = np.array([[0.1, 0.7, 0.2], [0.5, 0.2, 0.3]], np.float32)
    results = results_from_probs([(1.0, 2.0, 30.0, 40.0), (5, 6, 7, 8)], [0.9, 0.6], probs,
                                 CLASS_NAMES)
    assert [r.label for r in results] == ["with_mask", "mask_weared_incorrect"]
    assert results[0].box == (1, 2, 30, 40) and all(isinstance(v, int) for v in results[0].box)
    assert results[0].score == pytest.approx(0.7) and results[0].face_score == pytest.approx(0.9)
    assert results[1].ranked() == [("mask_weared_incorrect", pytest.approx(0.5)),
                                   ("without_mask", pytest.approx(0.3)),
                                   ("with_mask", pytest.approx(0.2))]
    assert results_from_probs([], [], np.zeros((0, 3)), CLASS_NAMES) == []


def test_to_json_keys_and_types():
    r = FaceMaskResult(box=(1, 2, 3, 4), face_score=0.123456789, label="with_mask",
                       score=0.987654321, scores={"with_mask": 0.987654321,
                                                  "without_mask": 0.012345679})
    j = r.to_json()
    assert set(j) == {"bbox", "label", "score", "face_score", "scores"}
    assert j["bbox"] == [1, 2, 3, 4]
    assert j["score"] == 0.987654 and j["face_score"] == 0.123457
    assert j["scores"] == {"with_mask": 0.987654, "without_mask": 0.012346}
    assert json.loads(json.dumps(j)) == j


# --------------------------------------------------------------------------- pipeline
def test_the_default_pipeline_is_centerface_and_the_shipped_classifier(pipeline, node_model):
    default = config.build_pipeline(config.settings())
    assert default.face_detector.kind == pipeline.face_detector.kind == "centerface"
    assert os.path.samefile(default.classifier.path, node_model)
    assert isinstance(default, FaceMaskPipeline)


def test_pipeline_on_astronaut(pipeline, astro, clf):
    results = pipeline(astro)
    assert len(results) == 1
    r = results[0]
    face = make_face_detector().detect(astro)[0]
    assert r.box == face.box
    assert r.face_score == pytest.approx(face.score)
    assert set(r.scores) == set(CLASS_NAMES)
    assert sum(r.scores.values()) == pytest.approx(1.0, abs=1e-5)
    assert r.label == max(r.scores, key=r.scores.get)
    assert r.score == pytest.approx(r.scores[r.label])
    # the same numbers as classifying the crop by hand with the same model
    expected = clf.predict([clf.crop(astro, face.box, face.landmarks)])[0]
    assert [r.scores[n] for n in CLASS_NAMES] == pytest.approx(list(expected), abs=1e-5)
    # the unmasked astronaut, by the shipped (trained) model
    assert r.label == "without_mask"

    ranked = r.ranked()
    assert [p for _, p in ranked] == sorted(r.scores.values(), reverse=True)
    assert ranked[0] == (r.label, pytest.approx(r.score))

    j = r.to_json()
    assert set(j) == {"bbox", "label", "score", "face_score", "scores"}
    assert j["bbox"] == list(face.box) and j["label"] == r.label
    assert set(j["scores"]) == set(CLASS_NAMES)
    json.dumps(j)


def test_pipeline_no_faces(pipeline):
    from skimage import data
    assert pipeline(np.ascontiguousarray(data.coffee()[..., ::-1])) == []
    assert pipeline(np.zeros((240, 320, 3), np.uint8)) == []


def test_pipeline_does_not_modify_the_frame(pipeline, astro):
    frame = astro.copy()
    pipeline(frame)
    np.testing.assert_array_equal(frame, astro)


def test_classify_boxes_keeps_order_and_defaults_face_scores(pipeline, astro):
    boxes = [(300, 300, 360, 380), ASTRONAUT_FACE, (-20, 480, 40, 530)]   # last: partly out
    results = pipeline.classify_boxes(astro, boxes)
    assert [r.box for r in results] == [tuple(b) for b in boxes]
    assert [r.face_score for r in results] == [1.0, 1.0, 1.0]
    clf = pipeline.classifier
    for box, r in zip(boxes, results):
        expected = clf.predict([clf.crop(astro, box)])[0]
        assert [r.scores[n] for n in CLASS_NAMES] == pytest.approx(list(expected), abs=1e-5)
    assert pipeline.classify_boxes(astro, []) == []
    scored = pipeline.classify_boxes(astro, boxes[:2], face_scores=[0.3, 0.8])
    assert [r.face_score for r in scored] == [0.3, 0.8]
    only = pipeline.classify_boxes(astro, boxes, only=[1])
    assert [bool(r.scores) for r in only] == [False, True, False]
    assert only[1].scores == pytest.approx(results[1].scores)
    assert [r.label for r in only] == ["", results[1].label, ""]


def test_pipeline_with_haar(node_model, astro):
    p = config.build_pipeline(config.settings(model_path=node_model, detector="haar"))
    assert p.face_detector.kind == "haar"
    results = p(astro)
    assert len(results) == 1 and results[0].face_score == 1.0
    assert set(results[0].scores) == set(CLASS_NAMES)


def test_build_pipeline_passes_the_detector_settings(node_model, astro):
    p = config.build_pipeline(config.settings(model_path=node_model, face_confidence=0.9,
                                              large_face_confidence=0.9, min_face_size=150,
                                              min_white_level=0))
    assert p.face_detector.confidence == 0.9 and p.face_detector.min_face_size == 150
    assert p.face_detector.large_confidence == 0.9 and p.min_white_level == 0
    assert p(astro) == []          # the astronaut's face is about 93 px wide
    with pytest.raises(ValueError, match="detector"):
        config.settings(detector="yolo")
    with pytest.raises(ValueError, match="backend"):
        config.settings(backend="torch")


# --------------------------------------------------------------------------- one configuration
def test_detect_s_options_and_the_node_s_parameters_are_one_configuration(node_model):
    """`detect` takes the pipeline's settings from the node's specs (config.PARAMETERS): the
    same names, defaults and limits, and build_pipeline builds the node's pipeline from them.
    """
    import argparse

    from marrtino_facemask.tools.offline import common_args
    parser = argparse.ArgumentParser()
    common_args(parser, config.PIPELINE_SETTINGS)
    args = parser.parse_args(["photo.png", "--jsonl", "-"])
    values = config.from_arguments(args)
    defaults = {spec.name: spec.default for spec in config.PARAMETERS}
    assert values == defaults == config.settings()
    for name in config.PIPELINE_SETTINGS:
        assert getattr(args, name) == config.SPECS[name].default, name
    expected = {"detector": "centerface", "detector_input_size": 640, "backend": "onnxruntime",
                "face_confidence": 0.3, "large_face_confidence": 0.1, "min_face_size": 8,
                "min_white_level": 160, "model_path": "", "face_model_dir": ""}
    assert {name: values[name] for name in config.PIPELINE_SETTINGS} == expected
    assert config.detection_threshold(values) == 0.1           # label_info's threshold
    assert config.detection_threshold(config.settings(large_face_confidence=0.5)) == 0.3
    for kind in ("dnn", "haar"):                 # one bar: large_face_confidence is unused
        assert config.detection_threshold(config.settings(detector=kind)) == 0.3

    pipeline = config.build_pipeline(values)
    detector, classifier = pipeline.face_detector, pipeline.classifier
    assert (detector.kind, detector.input_size, detector.backend, detector.precision) == (
        "centerface", 640, "onnxruntime", "int8")
    assert (detector.confidence, detector.large_confidence, detector.min_face_size) == (
        0.3, 0.1, 8)
    assert pipeline.min_white_level == 160
    assert os.path.samefile(classifier.path, node_model)
    assert (classifier.backend, classifier.precision) == ("onnxruntime", "int8")

    # the options' limits are the specs' (one message for both)
    for option, value in (("--face-confidence", "0.05"), ("--detector", "yolo"),
                          ("--backend", "torch"), ("--detector-input-size", "32")):
        with pytest.raises(SystemExit):
            parser.parse_args(["photo.png", "--jsonl", "-", option, value])
    args = parser.parse_args(["photo.png", "--jsonl", "-", "--face-confidence", "0.5",
                              "--detector", "haar", "--min-white-level", "0"])
    assert config.from_arguments(args) == config.settings(face_confidence=0.5, detector="haar",
                                                          min_white_level=0)


class _Net:
    """A stand-in net (for MaskClassifier(net=...)) whose training metadata says whether it
    was trained on aligned crops; it returns uniform probabilities.
    """

    backend, precision, path = "test", "float32", "fake.onnx"
    class_names, input_size, margin = CLASS_NAMES, 64, 0.15
    mean, std = (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)

    def __init__(self, align):
        self.meta = {"args": {"align": align}}

    def probabilities(self, batch):
        return np.full((len(batch), len(self.class_names)), 1 / 3, np.float32)


@pytest.mark.parametrize("align", [True, False])
def test_a_model_trained_on_aligned_crops_gets_them_from_the_pipeline(astronaut_bgr, align):
    from marrtino_facemask.crops import crop_aligned
    from marrtino_facemask.detectors import make_face_detector
    detector = make_face_detector()
    face = detector.detect(astronaut_bgr)[0]
    clf = MaskClassifier("fake.onnx", net=_Net(align))
    seen = []
    predict = clf.predict
    clf.predict = lambda crops, *a, **k: seen.extend(crops) or predict(crops, *a, **k)
    (result,) = FaceMaskPipeline(detector, clf)(astronaut_bgr)
    expected = (crop_aligned(astronaut_bgr, face.box, face.landmarks, 64)[0] if align
                else crop_face(astronaut_bgr, face.box, 64))
    assert len(seen) == 1 and np.array_equal(seen[0], expected)
    assert not np.array_equal(crop_aligned(astronaut_bgr, face.box, face.landmarks, 64)[0],
                              crop_face(astronaut_bgr, face.box, 64))
    # without landmarks (dnn, haar, or a box given by hand) the crop is the box crop
    assert np.array_equal(clf.crop(astronaut_bgr, face.box),
                          crop_face(astronaut_bgr, face.box, 64))
