"""MaskClassifier and FaceMaskPipeline on a real (untrained, seeded) ResNet18 checkpoint."""

import json

import numpy as np
import pytest
import torch

from marrtino_facemask.checkpoint import IMAGENET_MEAN, IMAGENET_STD, build_model, save_checkpoint
from marrtino_facemask.classifier import DEVICES, MaskClassifier
from marrtino_facemask.classifier_torch import resolve_device, to_tensor_batch
from marrtino_facemask.crops import crop_face
from marrtino_facemask.faces import make_face_detector
from marrtino_facemask.labels import CLASS_NAMES
from marrtino_facemask.pipeline import FaceMaskPipeline, FaceMaskResult, results_from_probs

ASTRONAUT_FACE = (179, 57, 272, 178)


@pytest.fixture(scope="module")
def tiny_ckpt(tiny_checkpoint):
    return tiny_checkpoint


@pytest.fixture(scope="module")
def clf(tiny_ckpt):
    return MaskClassifier(tiny_ckpt, device="cpu")


@pytest.fixture(scope="module")
def astro(astronaut_bgr):
    return astronaut_bgr


@pytest.fixture(scope="module")
def pipeline(tiny_ckpt):
    return FaceMaskPipeline.create(tiny_ckpt, device="cpu")


def _crops(n, size=96, seed=0):
    rng = np.random.default_rng(seed)
    # smooth random images (not pure noise), so that the classes' scores differ
    out = []
    for _ in range(n):
        small = rng.integers(0, 256, (6, 6, 3), dtype=np.uint8)
        out.append(np.ascontiguousarray(
            np.kron(small, np.ones((size // 6, size // 6, 1), np.uint8))))
    return out


# --------------------------------------------------------------------------- devices
def test_resolve_device_cpu_and_auto():
    assert resolve_device("cpu") == torch.device("cpu")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected
    assert resolve_device().type == expected
    assert DEVICES == ("auto", "cpu", "cuda")


@pytest.mark.parametrize("device", ["tpu", "CPU", ""])
def test_resolve_device_unknown(device):
    with pytest.raises(ValueError) as info:
        resolve_device(device)
    msg = str(info.value)
    assert f"'{device}'" in msg and "auto" in msg and "cpu" in msg and "cuda" in msg


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_resolve_device_cuda_without_cuda(tiny_ckpt):
    with pytest.raises(ValueError) as info:
        resolve_device("cuda")
    msg = str(info.value)
    assert "cuda" in msg and "no CUDA" in msg and "auto" in msg and "\n" not in msg
    with pytest.raises(ValueError):
        MaskClassifier(tiny_ckpt, device="cuda")


# --------------------------------------------------------------------------- tensors
def test_to_tensor_batch_converts_bgr_to_normalised_rgb():
    crops = [np.zeros((8, 8, 3), np.uint8), np.zeros((8, 8, 3), np.uint8)]
    crops[0][:] = (255, 0, 0)       # pure blue in BGR
    crops[1][:] = (0, 128, 255)     # orange in BGR
    batch = to_tensor_batch(crops, IMAGENET_MEAN, IMAGENET_STD)
    assert batch.shape == (2, 3, 8, 8) and batch.dtype == torch.float32
    assert batch.is_contiguous()
    mean, std = np.array(IMAGENET_MEAN), np.array(IMAGENET_STD)
    expected = [(np.array([0.0, 0.0, 1.0]) - mean) / std,       # RGB order
                (np.array([1.0, 128 / 255, 0.0]) - mean) / std]
    for i in range(2):
        for c in range(3):
            assert torch.allclose(batch[i, c], torch.full((8, 8), float(expected[i][c])),
                                  atol=1e-5), (i, c)


def test_to_tensor_batch_does_not_modify_crops():
    crops = _crops(2)
    before = [c.copy() for c in crops]
    to_tensor_batch(crops, IMAGENET_MEAN, IMAGENET_STD)
    for a, b in zip(crops, before):
        np.testing.assert_array_equal(a, b)


# --------------------------------------------------------------------------- classifier
def test_classifier_attributes(clf):
    assert clf.class_names == CLASS_NAMES
    assert clf.input_size == 96
    assert clf.margin == pytest.approx(0.15)
    assert clf.device == torch.device("cpu")
    assert not clf.model.training
    assert clf.meta == {"note": "untrained, for tests"}


def test_predict_gives_probabilities(clf):
    probs = clf.predict(_crops(5))
    assert probs.shape == (5, 3) and probs.dtype == np.float32
    assert np.all(probs >= 0) and np.all(probs <= 1)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    # different inputs, different outputs (the model really runs on the pixels)
    assert np.abs(probs[0] - probs[1]).max() > 1e-6


def test_predict_empty(clf):
    empty = clf.predict([])
    assert empty.shape == (0, 3) and empty.dtype == np.float32


def test_predict_batch_equals_one_by_one(clf):
    crops = _crops(3, seed=1)
    batch = clf.predict(crops)
    single = np.concatenate([clf.predict([c]) for c in crops])
    np.testing.assert_allclose(batch, single, atol=1e-5)
    np.testing.assert_allclose(clf.predict(crops), batch, atol=1e-6)   # deterministic


def test_predict_accepts_a_numpy_batch(clf):
    crops = _crops(3, seed=2)
    np.testing.assert_allclose(clf.predict(np.stack(crops)), clf.predict(crops), atol=1e-6)


def test_classifier_crop_uses_checkpoint_geometry(clf, astro):
    crop = clf.crop(astro, ASTRONAUT_FACE)
    assert crop.shape == (96, 96, 3) and crop.dtype == np.uint8
    np.testing.assert_array_equal(crop, crop_face(astro, ASTRONAUT_FACE, 96, 0.15))


def test_classifier_on_another_input_size(tmp_path):
    torch.manual_seed(5)
    path = tmp_path / "small.pt"
    save_checkpoint(str(path), build_model(2), class_names=("a", "b"), input_size=48,
                    margin=0.3)
    c = MaskClassifier(str(path), device="cpu")
    crops = [np.full((48, 48, 3), v, np.uint8) for v in (0, 100, 255)]
    probs = c.predict(crops)
    assert probs.shape == (3, 2)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    assert c.crop(np.zeros((100, 100, 3), np.uint8), (10, 10, 50, 50)).shape == (48, 48, 3)


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
    # the same numbers as classifying the crop by hand with the same checkpoint
    expected = clf.predict([clf.crop(astro, face.box)])[0]
    assert [r.scores[n] for n in CLASS_NAMES] == pytest.approx(list(expected), abs=1e-5)

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


def test_pipeline_with_haar(tiny_ckpt, astro):
    p = FaceMaskPipeline.create(tiny_ckpt, detector="haar", device="cpu")
    results = p(astro)
    assert len(results) == 1 and results[0].face_score == 1.0
    assert set(results[0].scores) == set(CLASS_NAMES)


def test_pipeline_create_passes_detector_settings(tiny_ckpt, astro):
    p = FaceMaskPipeline.create(tiny_ckpt, face_confidence=0.9, min_face_size=150, device="cpu")
    assert p.face_detector.confidence == 0.9 and p.face_detector.min_face_size == 150
    assert p(astro) == []          # the astronaut's face is about 93 px wide
    with pytest.raises(ValueError):
        FaceMaskPipeline.create(tiny_ckpt, detector="yolo", device="cpu")
