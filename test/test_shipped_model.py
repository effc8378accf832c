"""The shipped classifier in models/: its int8 ONNX file is the node's default and comes from
the checkpoint beside it, the checkpoint loads safely, both see a real unmasked face, and
models/metrics.json publishes only cross-validated figures of the recipe it was trained with.

The shipped model was trained on every photo of both datasets, so no test scores it on them:
its figures are those of its recipe's folds (`evaluate --folds RUN --card`). What is checked
against a dataset here is the face detector, on the face_mask_scenes photos it was not
fine-tuned on (skipped when the dataset is absent: ../shared/data/face_mask_scenes, or
$FACE_MASK_SCENES).
"""

import json
import os

import pytest
import torch

from marrtino_facemask.classifier import MaskClassifier
from marrtino_facemask.classifier_onnx import read_metadata, sha256_of
from marrtino_facemask.config import build_pipeline, settings
from marrtino_facemask.lab import evaluate
from marrtino_facemask.lab.card import DETECTOR_KEYS, NOT_RECIPE, detector_figures
from marrtino_facemask.lab.checkpoint import CHECKPOINT_NAME, default_checkpoint_path
from marrtino_facemask.lab.classifier_torch import TorchNet
from marrtino_facemask.labels import CLASS_NAMES
from marrtino_facemask.model_file import (
    DEFAULT_MODEL_NAME,
    FORMAT,
    REPO_MODELS_DIR,
    default_model_path,
)
from marrtino_facemask.pipeline import FaceMaskPipeline

SHIPPED = os.path.join(REPO_MODELS_DIR, DEFAULT_MODEL_NAME)         # int8, what the node runs
CHECKPOINT = os.path.join(REPO_MODELS_DIR, CHECKPOINT_NAME)         # its source, for the lab
CARD = os.path.join(REPO_MODELS_DIR, "metrics.json")
DATASET = os.environ.get("FACE_MASK_SCENES", os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "..", "shared", "data",
    "face_mask_scenes"))
SOURCES = {"face_mask_scenes", "face_mask_extra"}


@pytest.fixture(scope="module")
def checkpoint():
    return torch.load(CHECKPOINT, map_location="cpu", weights_only=True)


@pytest.fixture(scope="module")
def card():
    with open(CARD) as f:
        return json.load(f)


def test_shipped_model_is_the_default_and_loads_without_pickled_code(checkpoint):
    assert os.path.samefile(default_model_path(), SHIPPED)
    assert os.path.samefile(default_checkpoint_path(), CHECKPOINT)
    assert checkpoint["format"] == FORMAT and checkpoint["class_names"] == list(CLASS_NAMES)
    assert os.path.getsize(CHECKPOINT) < 30 * 1024 * 1024
    assert os.path.getsize(SHIPPED) < 12 * 1024 * 1024


def test_the_node_runs_the_checkpoint_quantized():
    meta = read_metadata(SHIPPED)
    assert meta["precision"] == "int8"
    assert meta["source_sha256"] == sha256_of(CHECKPOINT)


def test_it_was_trained_on_every_photo_of_both_datasets(checkpoint):
    args = checkpoint["meta"]["args"]
    assert {os.path.basename(os.path.normpath(d)) for d in args["data"]} == SOURCES
    assert args["val_fraction"] == 0 and not args["folds"] and not args["split"]


def test_the_card_publishes_the_folds_of_that_very_recipe(checkpoint, card):
    assert "not scored on any of them" in card["note"]
    recipe = {k: v for k, v in checkpoint["meta"]["args"].items() if k not in NOT_RECIPE}
    assert recipe == card["recipe"]
    for table in (card["checkpoint"], card["int8"]):
        assert table["folds"] == 5 and set(table["groups"]) == {"pooled"} | SOURCES
        assert table["groups"]["pooled"]["photos"] == sum(
            table["groups"][s]["photos"] for s in SOURCES)
    # the rule for shipping int8: within 0.01 of the checkpoints, on the same folds
    for figure in ("macro_recall", "accuracy", "map50"):
        a = card["int8"]["groups"]["pooled"][figure]["pooled"]
        b = card["checkpoint"]["groups"]["pooled"][figure]["pooled"]
        assert abs(a - b) <= 0.01, (figure, a, b)


@pytest.mark.parametrize("runs_on", ["node", "torch"])
def test_shipped_model_sees_the_astronaut_without_a_mask(astronaut_bgr, runs_on):
    """The node's default pipeline (int8 on ONNX Runtime), and the checkpoint on torch as the
    lab scores it.
    """
    if runs_on == "node":
        pipeline = build_pipeline(settings())
        assert pipeline.classifier.path == default_model_path()
        assert (pipeline.classifier.backend, pipeline.classifier.precision) == (
            "onnxruntime", "int8")
    else:
        classifier = MaskClassifier(CHECKPOINT, net=TorchNet(CHECKPOINT, "cpu"))
        pipeline = FaceMaskPipeline(build_pipeline(settings()).face_detector, classifier)
    results = pipeline(astronaut_bgr)
    assert len(results) == 1
    assert results[0].label == "without_mask" and results[0].score > 0.5


@pytest.mark.skipif(not os.path.isdir(DATASET), reason=f"dataset not found at {DATASET} "
                    "(set FACE_MASK_SCENES to the face_mask_scenes folder)")
def test_evaluate_reproduces_the_detector_figures_of_the_card(card, tmp_path):
    now = detector_figures(DATASET, str(tmp_path), evaluate.main)
    for key in DETECTOR_KEYS:
        assert now[key] == card["detector"][key], key
    by_size = now["recall_iou_0.3"]["by_size"]
    assert by_size["all"]["faces"] == 589 and by_size["all"]["recall"] >= 0.95
    assert now["face_ap50"] >= 0.94
