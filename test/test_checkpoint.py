"""The classifier checkpoint format (marrtino_facemask.lab.checkpoint) with real ResNet18 files."""

import os
import pathlib
import pickle

import pytest
import torch

from marrtino_facemask.classifier import MaskClassifier
from marrtino_facemask.crops import DEFAULT_MARGIN
from marrtino_facemask.lab.checkpoint import (
    FORMAT,
    FORMAT_VERSION,
    IMAGENET_MEAN,
    IMAGENET_STD,
    ModelError,
    build_model,
    load_checkpoint,
    model_from_checkpoint,
    save_checkpoint,
)
from marrtino_facemask.lab.classifier_torch import TorchNet
from marrtino_facemask.labels import CLASS_NAMES


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(1)
    m = build_model()
    # non-trivial batch-norm statistics, so that they must round-trip too
    with torch.no_grad():
        for mod in m.modules():
            if isinstance(mod, torch.nn.BatchNorm2d):
                mod.running_mean.uniform_(-0.2, 0.2)
                mod.running_var.uniform_(0.5, 1.5)
                mod.num_batches_tracked.fill_(7)
    return m.eval()


@pytest.fixture(scope="module")
def ckpt_path(model, tmp_path_factory):
    path = tmp_path_factory.mktemp("ckpt") / "model.pt"
    save_checkpoint(str(path), model,
                    meta={"epoch": 3, "val_f1": 0.75, "dataset": pathlib.Path("/data/x"),
                          "sizes": (1, 2), "nested": {"a": [1, 2.5, None]}})
    return str(path)


def _one_line_error(path, info):
    msg = str(info.value)
    assert "\n" not in msg, msg
    assert str(path) in msg, msg
    assert "model_path" in msg, msg
    return msg


# --------------------------------------------------------------------------- round trip
def test_round_trip_fields(ckpt_path):
    ckpt = load_checkpoint(ckpt_path)
    assert ckpt["format"] == FORMAT and ckpt["format_version"] == FORMAT_VERSION
    assert ckpt["arch"] == "resnet18"
    assert ckpt["class_names"] == list(CLASS_NAMES)
    assert ckpt["input_size"] == 96
    assert ckpt["crop_margin"] == pytest.approx(DEFAULT_MARGIN)
    assert ckpt["mean"] == pytest.approx(list(IMAGENET_MEAN))
    assert ckpt["std"] == pytest.approx(list(IMAGENET_STD))
    # meta goes through JSON: paths become strings, tuples lists
    assert ckpt["meta"] == {"epoch": 3, "val_f1": 0.75, "dataset": "/data/x", "sizes": [1, 2],
                            "nested": {"a": [1, 2.5, None]}}


def test_round_trip_custom_values(tmp_path):
    torch.manual_seed(2)
    m = build_model(2)
    path = tmp_path / "sub" / "dir" / "two.pt"          # parent folders are created
    path.parent.mkdir(parents=True)
    path.write_bytes(b"an older, broken file")         # replaced as a whole
    save_checkpoint(str(path), m, class_names=("a", "b"), input_size=64, margin=0.3,
                    mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))
    ckpt = load_checkpoint(str(path))
    assert ckpt["class_names"] == ["a", "b"]
    assert ckpt["input_size"] == 64 and ckpt["crop_margin"] == pytest.approx(0.3)
    assert ckpt["mean"] == [0.5] * 3 and ckpt["std"] == [0.25] * 3
    assert ckpt["meta"] == {}
    restored = model_from_checkpoint(ckpt)
    assert restored.fc.out_features == 2
    assert sorted(os.listdir(path.parent)) == ["two.pt"]   # no temporary file left


def test_file_loads_with_weights_only_and_stores_float16(ckpt_path, model):
    raw = torch.load(ckpt_path, map_location="cpu", weights_only=True)
    assert isinstance(raw, dict) and raw["format"] == FORMAT
    state = raw["state_dict"]
    original = model.state_dict()
    assert set(state) == set(original)
    for name, tensor in state.items():
        if original[name].is_floating_point():
            assert tensor.dtype == torch.float16, name
            torch.testing.assert_close(tensor, original[name].half(), rtol=0, atol=0)
        else:
            assert tensor.dtype == original[name].dtype, name
            assert torch.equal(tensor, original[name]), name
    assert int(state["bn1.num_batches_tracked"]) == 7
    # about half the float32 size (11.2 M parameters x 2 bytes)
    assert os.path.getsize(ckpt_path) < 30e6


def test_save_leaves_no_temporary_file(ckpt_path):
    assert os.listdir(os.path.dirname(ckpt_path)) == ["model.pt"]


def test_restored_model_gives_nearly_the_same_logits(ckpt_path, model):
    restored = model_from_checkpoint(load_checkpoint(ckpt_path), ckpt_path).eval()
    for p in restored.state_dict().values():
        if p.is_floating_point():
            assert p.dtype == torch.float32
    torch.testing.assert_close(restored.fc.weight, model.fc.weight, atol=1e-3, rtol=1e-3)
    torch.testing.assert_close(restored.bn1.running_var, model.bn1.running_var,
                               atol=1e-3, rtol=1e-3)
    torch.manual_seed(3)
    x = torch.randn(3, 3, 64, 64)
    with torch.no_grad():
        a, b = model(x), restored(x)
    assert a.shape == b.shape == (3, 3)
    scale = float(a.abs().max())
    assert float((a - b).abs().max()) <= 0.02 * max(scale, 1.0), (a, b)
    torch.testing.assert_close(torch.softmax(a, 1), torch.softmax(b, 1), atol=5e-3, rtol=0)


def test_mask_classifier_reads_the_checkpoint(ckpt_path):
    """The lab scores a checkpoint through the runtime's MaskClassifier, on torch."""
    net = TorchNet(ckpt_path, "cpu")
    clf = MaskClassifier(ckpt_path, net=net)
    assert clf.class_names == CLASS_NAMES and clf.backend == "torch"
    assert clf.input_size == 96 and clf.margin == pytest.approx(DEFAULT_MARGIN)
    assert clf.meta["epoch"] == 3
    assert not net.model.training


# --------------------------------------------------------------------------- bad files
class _Evil:
    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (os.mkdir, (self.target,))


def _write_bad(kind, path, good_path):
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "truncated":
        data = open(good_path, "rb").read()
        path.write_bytes(data[:len(data) // 2])
    elif kind == "random_bytes":
        path.write_bytes(os.urandom(2048))
    elif kind == "text":
        path.write_text("hello, I am not a model\n")
    elif kind == "plain_pickle":
        path.write_bytes(pickle.dumps({"format": FORMAT, "a": 1}))
    elif kind == "torch_dict_not_ours":
        torch.save({"state_dict": {"fc.bias": torch.zeros(3)}, "epoch": 1}, str(path))
    elif kind == "torch_tensor":
        torch.save(torch.zeros(3), str(path))
    elif kind == "torch_other_format":
        torch.save({"format": "someone.else", "format_version": 1}, str(path))
    elif kind == "torch_list":
        torch.save([1, 2, 3], str(path))
    else:
        raise AssertionError(kind)


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
@pytest.mark.parametrize("kind", ["empty", "truncated", "random_bytes", "text", "plain_pickle",
                                  "torch_dict_not_ours", "torch_tensor", "torch_other_format",
                                  "torch_list"])
def test_bad_files_give_one_line_model_error(kind, tmp_path, ckpt_path):
    path = tmp_path / f"{kind}.pt"
    _write_bad(kind, path, ckpt_path)
    with pytest.raises(ModelError) as info:
        load_checkpoint(str(path))
    _one_line_error(path, info)
    # the lab's torch classifier reports the same error
    with pytest.raises(ModelError) as info:
        TorchNet(str(path), "cpu")
    _one_line_error(path, info)


def test_missing_file(tmp_path):
    path = tmp_path / "nope.pt"
    with pytest.raises(ModelError) as info:
        load_checkpoint(str(path))
    assert "not found" in _one_line_error(path, info)


def test_directory_is_not_a_model(tmp_path):
    with pytest.raises(ModelError) as info:
        load_checkpoint(str(tmp_path))
    assert "not found" in _one_line_error(tmp_path, info)


@pytest.mark.parametrize("path", [None, ""])
def test_no_path(path):
    with pytest.raises(ModelError) as info:
        load_checkpoint(path)
    assert "\n" not in str(info.value) and "model_path" in str(info.value)


def test_pickled_code_is_not_executed(tmp_path):
    sentinel = tmp_path / "PWNED"
    path = tmp_path / "evil.pt"
    torch.save({"format": FORMAT, "payload": _Evil(str(sentinel))}, str(path))
    with pytest.raises(ModelError) as info:
        load_checkpoint(str(path))
    _one_line_error(path, info)
    assert not sentinel.exists(), "loading a checkpoint ran pickled code"


def test_not_our_format_message(tmp_path, ckpt_path):
    path = tmp_path / "other.pt"
    _write_bad("torch_dict_not_ours", path, ckpt_path)
    with pytest.raises(ModelError) as info:
        load_checkpoint(str(path))
    assert "not a marrtino_facemask checkpoint" in str(info.value)


# --------------------------------------------------------------------------- wrong weights
def _fields(state_dict, class_names=CLASS_NAMES):
    """A checkpoint dict in our format around ``state_dict`` (small, for the error tests)."""
    return {"format": FORMAT, "format_version": FORMAT_VERSION, "arch": "resnet18",
            "class_names": list(class_names), "input_size": 96, "crop_margin": 0.15,
            "mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD),
            "state_dict": state_dict, "meta": {}}


def test_state_dict_with_another_head_does_not_fit(ckpt_path, tmp_path):
    ckpt = load_checkpoint(ckpt_path)
    state = dict(ckpt["state_dict"])
    state["fc.weight"] = torch.zeros(5, 512, dtype=torch.float16)   # 5 outputs, 3 names
    state["fc.bias"] = torch.zeros(5, dtype=torch.float16)
    with pytest.raises(ModelError) as info:
        model_from_checkpoint(dict(ckpt, state_dict=state), "five.pt")
    msg = str(info.value)
    assert "\n" not in msg and "five.pt" in msg and "3 classes" in msg

    path = tmp_path / "five.pt"
    torch.save(_fields({"fc.weight": torch.zeros(5, 512), "fc.bias": torch.zeros(5)}), str(path))
    with pytest.raises(ModelError) as info:
        TorchNet(str(path), "cpu")
    assert "\n" not in str(info.value) and str(path) in str(info.value)


def test_state_dict_with_missing_keys_does_not_fit(ckpt_path):
    ckpt = load_checkpoint(ckpt_path)
    state = dict(ckpt["state_dict"])
    del state["fc.weight"]
    with pytest.raises(ModelError) as info:
        model_from_checkpoint(dict(ckpt, state_dict=state), ckpt_path)
    assert "\n" not in str(info.value) and ckpt_path in str(info.value)


def test_state_dict_with_extra_keys_does_not_fit(ckpt_path):
    ckpt = load_checkpoint(ckpt_path)
    state = dict(ckpt["state_dict"], **{"head2.weight": torch.zeros(3, 512)})
    with pytest.raises(ModelError):
        model_from_checkpoint(dict(ckpt, state_dict=state), ckpt_path)


def test_empty_state_dict_does_not_fit(tmp_path):
    path = tmp_path / "empty_state.pt"
    torch.save(_fields({}), str(path))
    with pytest.raises(ModelError) as info:
        TorchNet(str(path), "cpu")
    assert "\n" not in str(info.value) and str(path) in str(info.value)


@pytest.mark.parametrize("missing", ["class_names", "state_dict", "input_size"])
def test_checkpoint_with_missing_fields_gives_model_error(tmp_path, missing):
    path = tmp_path / "incomplete.pt"
    ckpt = _fields({})
    del ckpt[missing]
    torch.save(ckpt, str(path))
    with pytest.raises(ModelError):
        TorchNet(str(path), "cpu")


# --------------------------------------------------------------------------- bad metadata
BAD_METADATA = {
    # name: (changes to a good checkpoint, words the one-line error must contain)
    "std zero": ({"std": [0.0, 0.0, 0.0]}, ["std", "> 0"]),
    "std negative": ({"std": [0.2, -0.2, 0.2]}, ["std"]),
    "std nan": ({"std": [0.2, float("nan"), 0.2]}, ["std"]),
    "std two values": ({"std": [0.2, 0.2]}, ["std"]),
    "mean inf": ({"mean": [0.5, float("inf"), 0.5]}, ["mean", "finite"]),
    "mean text": ({"mean": ["a", "b", "c"]}, ["mean"]),
    "input_size zero": ({"input_size": 0}, ["input_size", "16"]),
    "input_size huge": ({"input_size": 100_000}, ["input_size"]),
    "crop_margin nan": ({"crop_margin": float("nan")}, ["crop_margin", "finite"]),
    "crop_margin negative": ({"crop_margin": -0.6}, ["crop_margin"]),
    "no class names": ({"class_names": []}, ["class_names"]),
}


def bad_metadata_checkpoint(path, changes):
    """A small checkpoint file (no weights) in our format with ``changes`` applied."""
    torch.save(dict(_fields({}), **changes), str(path))
    return str(path)


@pytest.mark.parametrize("name", sorted(BAD_METADATA))
def test_bad_metadata_gives_one_line_model_error(tmp_path, name):
    changes, words = BAD_METADATA[name]
    path = bad_metadata_checkpoint(tmp_path / "bad_meta.pt", changes)
    for load in (load_checkpoint, lambda p: TorchNet(p, "cpu")):
        with pytest.raises(ModelError) as info:
            load(path)
        msg = _one_line_error(path, info)
        assert "bad metadata" in msg
        for word in words:
            assert word in msg, msg


def test_good_metadata_limits_load(tmp_path, ckpt_path):
    ckpt = load_checkpoint(ckpt_path)
    for changes in ({"input_size": 16}, {"crop_margin": 0.0}, {"std": [1e-3, 1.0, 2.0]},
                    {"mean": [0, 0, 0]}):
        path = tmp_path / "edge.pt"
        torch.save(dict(ckpt, **changes), str(path))
        assert load_checkpoint(str(path))["format"] == FORMAT
