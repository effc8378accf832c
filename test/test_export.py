"""`export` (a real ResNet18 checkpoint to ONNX, checked on real face crops), and the classifier
that the node runs: the ONNX file, everything read from its metadata, which answers as the
checkpoint on torch (the lab's TorchNet).
"""

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch

pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")

from marrtino_facemask import threads  # noqa: E402
from marrtino_facemask.classifier import MaskClassifier, onnx_file  # noqa: E402
from marrtino_facemask.classifier_onnx import StaleExportError  # noqa: E402
from marrtino_facemask.lab import export  # noqa: E402
from marrtino_facemask.lab.checkpoint import (  # noqa: E402
    REPO_MODELS_DIR,
    ModelError,
    build_model,
    default_checkpoint_path,
    load_checkpoint,
    save_checkpoint,
)
from marrtino_facemask.lab.classifier_torch import TorchNet  # noqa: E402
from marrtino_facemask.labels import CLASS_NAMES  # noqa: E402
from marrtino_facemask.model_file import DEFAULT_MODEL_NAME  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ASTRONAUT_FACE = (179, 57, 272, 178)
PARITY = re.compile(r"parity on (\d+) (.*): max \|p_onnxruntime - p_torch\| = (\S+) "
                    r"\(limit 1e-04\)")


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def run_export(*args, dataset=None):
    """The CLI in its own process; without ``dataset`` the parity crops are the astronaut's."""
    env = dict(os.environ, FACE_MASK_SCENES=dataset or os.path.join(REPO, "no_such_dataset"))
    return subprocess.run([sys.executable, "-m", "marrtino_facemask", "export", *args],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def exported(tiny_checkpoint, tmp_path_factory):
    """(the .pt, its exported .onnx beside it, the export's stdout)."""
    folder = tmp_path_factory.mktemp("export")
    pt = folder / "tiny.pt"
    shutil.copy(tiny_checkpoint, pt)
    proc = run_export("--model", str(pt))
    assert proc.returncode == 0, proc.stderr
    return str(pt), str(folder / "tiny.onnx"), proc.stdout


def astronaut_crops(clf, image, n=12, seed=0):
    """The astronaut's face cut by the classifier, from jittered boxes (as a detector's vary)."""
    from marrtino_facemask.lab.augment import jitter_box
    rng = np.random.default_rng(seed)
    return [clf.crop(image, ASTRONAUT_FACE if i == 0 else jitter_box(ASTRONAUT_FACE, rng))
            for i in range(n)]


# --------------------------------------------------------------------------- export
def test_export_writes_onnx_with_the_checkpoint_metadata(exported):
    pt, path, _ = exported
    model = onnx.load(path)
    onnx.checker.check_model(model)
    props = {p.key: p.value for p in model.metadata_props}
    ckpt = load_checkpoint(pt)
    assert props["format"] == "marrtino_facemask.resnet18.onnx"
    assert json.loads(props["class_names"]) == list(CLASS_NAMES)
    assert json.loads(props["input_size"]) == 96
    assert json.loads(props["crop_margin"]) == pytest.approx(0.15)
    assert json.loads(props["mean"]) == pytest.approx(ckpt["mean"])
    assert json.loads(props["std"]) == pytest.approx(ckpt["std"])
    assert json.loads(props["meta"]) == {"note": "untrained, for tests"}
    assert props["source_sha256"] == sha256(pt) and props["source_checkpoint"] == "tiny.pt"
    assert props["precision"] == "float32"
    # any batch size; probabilities out
    batch_dim = model.graph.input[0].type.tensor_type.shape.dim[0]
    assert batch_dim.dim_param and not batch_dim.dim_value
    assert [o.name for o in model.graph.output] == ["probabilities"]
    # the checkpoint's float16 weights are stored as float16 (cast to float32 on load)
    params = sum(p.numel() for p in build_model().parameters())
    assert os.path.getsize(path) < 0.6 * 4 * params


def test_export_prints_the_parity_on_real_crops(exported):
    _, _, stdout = exported
    match = PARITY.search(stdout)
    assert match, stdout
    assert int(match.group(1)) >= 100 and "astronaut" in match.group(2)
    assert float(match.group(3)) <= 1e-4
    assert "wrote" in stdout


def test_export_refuses_when_onnxruntime_and_torch_disagree(tiny_checkpoint, tmp_path,
                                                            monkeypatch, capsys):
    """A graph of other weights than the checkpoint's fails the parity check: nothing is
    written, and the error is one line.
    """
    other = tmp_path / "other.pt"
    with torch.random.fork_rng():
        torch.manual_seed(1)
        save_checkpoint(str(other), build_model())
    real_export = export.export_onnx
    monkeypatch.setattr(export, "export_onnx",
                        lambda ckpt, out, opset: real_export(str(other), out, opset))
    monkeypatch.setenv("FACE_MASK_SCENES", str(tmp_path / "no_dataset"))
    out = tmp_path / "bad.onnx"
    assert export.main(["--model", tiny_checkpoint, "--out", str(out), "--crops", "8"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "disagree" in err and "was not written" in err
    assert not out.exists() and not os.path.exists(f"{out}.tmp")


def test_export_of_a_missing_checkpoint_is_one_line(tmp_path):
    proc = run_export("--model", str(tmp_path / "none.pt"))
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "not found" in proc.stderr
    assert "Traceback" not in proc.stderr


# --------------------------------------------------------------------------- the ONNX file
def test_onnxruntime_and_torch_agree_on_real_crops(exported, astronaut_bgr):
    pt, path, _ = exported
    on_torch = MaskClassifier(pt, net=TorchNet(pt, "cpu"))   # how the lab scores a .pt
    on_ort = MaskClassifier(pt)        # the node: the .pt's ONNX file beside it
    assert (on_torch.backend, on_ort.backend) == ("torch", "onnxruntime")
    assert on_ort.path == path and on_ort.precision == "float32"
    for name in ("class_names", "input_size", "margin", "mean", "std", "meta"):
        assert getattr(on_ort, name) == pytest.approx(getattr(on_torch, name)), name
    crops = astronaut_crops(on_ort, astronaut_bgr)
    p_ort, p_torch = on_ort.predict(crops), on_torch.predict(crops)
    assert p_ort.shape == (12, 3) and p_ort.dtype == np.float32
    np.testing.assert_allclose(p_ort.sum(axis=1), 1.0, atol=1e-5)
    assert np.abs(p_ort - p_torch).max() <= 1e-4
    np.testing.assert_allclose(on_ort.predict(crops[:5], batch_size=2), p_ort[:5], atol=1e-6)
    assert on_ort.predict([]).shape == (0, 3)
    # the .onnx on its own (no .pt needed)
    assert MaskClassifier(path).backend == "onnxruntime"


def test_a_checkpoint_without_its_onnx_file(tiny_checkpoint, tmp_path):
    pt = tmp_path / "alone.pt"
    shutil.copy(tiny_checkpoint, pt)
    for backend in ("onnxruntime", "openvino"):     # refused before OpenVINO is needed
        with pytest.raises(ModelError) as info:
            MaskClassifier(str(pt), backend)
        msg = str(info.value)
        assert "\n" not in msg and "alone.onnx" in msg and str(pt) in msg
        assert "python -m marrtino_facemask export --model" in msg


def test_backend_refusals_are_one_line(exported):
    """The node runs ONNX files only: torch (and anything else) is no backend of it."""
    pt, path, _ = exported
    for backend in ("torch", "tensorrt", "auto"):
        with pytest.raises(ValueError) as info:
            MaskClassifier(path, backend=backend)
        msg = str(info.value)
        assert "\n" not in msg and f"'{backend}'" in msg and "onnxruntime, openvino" in msg


def test_a_stale_onnx_file_is_refused(exported, tmp_path):
    """An .onnx left beside a retrained .pt never runs: it is refused in one line."""
    _, path, _ = exported
    pt = tmp_path / "model.pt"
    shutil.copy(path, tmp_path / "model.onnx")
    with torch.random.fork_rng():
        torch.manual_seed(3)
        save_checkpoint(str(pt), build_model())
    with pytest.raises(StaleExportError) as info:
        MaskClassifier(str(pt), backend="onnxruntime")
    msg = str(info.value)
    assert "\n" not in msg and f"export --model {pt}" in msg


def test_a_checkpoint_runs_its_int8_file_where_there_is_one(exported, tmp_path):
    """A .pt path runs the NAME_int8.onnx beside it (quantize's), else NAME.onnx (export's);
    an .onnx path is run as it is, so float32 is run by naming the float32 file.
    """
    _, path, _ = exported
    shutil.copy(path, tmp_path / "m.onnx")
    pt = str(tmp_path / "m.pt")      # no .pt here: only the ONNX files are installed
    assert onnx_file(pt) == str(tmp_path / "m.onnx")
    assert MaskClassifier(pt).path == str(tmp_path / "m.onnx")
    shutil.copy(path, tmp_path / "m_int8.onnx")
    assert onnx_file(pt) == str(tmp_path / "m_int8.onnx")
    assert MaskClassifier(pt).path == str(tmp_path / "m_int8.onnx")
    assert MaskClassifier(str(tmp_path / "m.onnx")).path == str(tmp_path / "m.onnx")


def test_damaged_or_foreign_onnx_files(exported, tmp_path):
    _, path, _ = exported
    model = onnx.load(path)
    for prop in model.metadata_props:
        if prop.key == "std":
            prop.value = "[0.0, 0.0, 0.0]"
    onnx.save(model, tmp_path / "std0.onnx")
    cases = {"std0.onnx": "std must be 3 finite numbers > 0",
             "centerface.onnx": "not a marrtino_facemask ONNX export",
             "junk.onnx": "corrupt or not an ONNX model"}
    shutil.copy(os.path.join(REPO_MODELS_DIR, "face_detectors", "centerface.onnx"),
                tmp_path / "centerface.onnx")
    (tmp_path / "junk.onnx").write_bytes(os.urandom(4096))
    for name, text in cases.items():
        with pytest.raises(ModelError) as info:
            MaskClassifier(str(tmp_path / name))
        assert "\n" not in str(info.value) and text in str(info.value), name


def test_onnxruntime_sessions_take_the_threads_setting(exported, monkeypatch):
    _, path, _ = exported
    monkeypatch.setattr(threads, "_configured", 1)
    options = MaskClassifier(path).net.session.get_session_options()
    assert options.intra_op_num_threads == 1 and options.inter_op_num_threads == 1


# --------------------------------------------------------------------------- shipped files
def test_the_shipped_int8_model_comes_from_the_shipped_checkpoint():
    pt = default_checkpoint_path()
    clf = MaskClassifier(pt)         # the int8 file beside it
    assert clf.path == os.path.join(REPO_MODELS_DIR, DEFAULT_MODEL_NAME)
    assert clf.precision == "int8" and clf.net.metadata["source_sha256"] == sha256(pt)
    ckpt = load_checkpoint(pt)
    assert list(clf.class_names) == ckpt["class_names"] and clf.meta == ckpt["meta"]
    assert clf.input_size == ckpt["input_size"] and clf.margin == ckpt["crop_margin"]
    assert os.path.getsize(clf.path) < 12e6
