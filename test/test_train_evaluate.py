"""Real tiny training runs on a generated dataset, then evaluate and the offline tools.

evaluate scores a checkpoint .pt on torch, as training scored it; the offline tools, like the
node, run its ONNX file (export writes it beside the .pt).
"""

import json
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch
from synthetic import astronaut_bgr, make_crop_folders, make_voc_scenes

from marrtino_facemask.faces import CENTERFACE_INT8_ONNX, CENTERFACE_ONNX, default_face_model_dir
from marrtino_facemask.lab import evaluate, export, train
from marrtino_facemask.lab.checkpoint import FORMAT
from marrtino_facemask.labels import CLASS_NAMES
from marrtino_facemask.tools import offline

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = ["--epochs", "2", "--input-size", "32", "--batch-size", "8", "--no-progress",
        "--eval-min-face", "24", "--threads", "2"]


@pytest.fixture(scope="module")
def voc_run(tmp_path_factory):
    base = tmp_path_factory.mktemp("voc")
    data = make_voc_scenes(str(base / "scenes"), n_images=24)
    out = str(base / "run")
    assert train.main(["--data", data, "--out", out, "--seed", "3", "--align",
                       *TINY]) == 0
    # the ONNX file beside last.pt, which the offline tools run (checked against torch)
    assert export.main(["--model", os.path.join(out, "last.pt"), "--data", data]) == 0
    return data, out


def test_training_writes_the_run(voc_run):
    _, out = voc_run
    for name in ("last.pt", "split.json", "metrics.csv", "curves.png", "args.json",
                 "val_metrics.json"):
        assert os.path.getsize(os.path.join(out, name)) > 0, name
    assert not os.path.exists(os.path.join(out, "best.pt"))   # no epoch is picked
    with open(os.path.join(out, "metrics.csv")) as f:
        lines = f.read().strip().splitlines()
    assert lines[0].split(",")[:7] == ["epoch", "lr", "train_loss", "train_acc", "val_loss",
                                       "val_acc", "val_macro_f1"]
    assert len(lines) == 3  # header + 2 epochs
    assert cv2.imread(os.path.join(out, "curves.png")) is not None


def test_checkpoint_is_safe_and_complete(voc_run):
    _, out = voc_run
    ckpt = torch.load(os.path.join(out, "last.pt"), map_location="cpu", weights_only=True)
    assert ckpt["format"] == FORMAT
    assert ckpt["class_names"] == list(CLASS_NAMES)
    assert ckpt["input_size"] == 32
    assert ckpt["crop_margin"] == pytest.approx(0.15)
    assert len(ckpt["mean"]) == len(ckpt["std"]) == 3
    assert ckpt["state_dict"]["fc.weight"].shape == (3, 512)
    meta = ckpt["meta"]
    assert meta["epoch"] == 2 and meta["train_faces"] > 0
    assert meta["command"].startswith("python -m marrtino_facemask train --data ")
    assert "--seed 3" in meta["command"]


def test_split_is_by_photo_and_reproducible(voc_run, tmp_path):
    data, out = voc_run
    with open(os.path.join(out, "split.json")) as f:
        split = json.load(f)
    assert split["train"] and split["val"]
    assert not set(split["train"]) & set(split["val"])
    assert len(split["train"]) + len(split["val"]) == 24
    # same seed, same split
    again = str(tmp_path / "again")
    assert train.main(["--data", data, "--out", again, "--seed", "3", *TINY[:2], "--epochs", "1",
                       *TINY[2:]]) == 0
    with open(os.path.join(again, "split.json")) as f:
        assert json.load(f)["val"] == split["val"]


def test_evaluate_reproduces_training_metrics(voc_run, tmp_path):
    _, out = voc_run
    ev = str(tmp_path / "eval")
    assert evaluate.main(["--model", os.path.join(out, "last.pt"), "--split",
                          os.path.join(out, "split.json"), "--out", ev]) == 0
    with open(os.path.join(ev, "metrics.json")) as f:
        metrics = json.load(f)
    with open(os.path.join(out, "val_metrics.json")) as f:
        trained = json.load(f)["last_epoch_metrics"]
    assert metrics["classifier_backend"] == "torch"     # a .pt: on torch, as training scored it
    assert metrics["accuracy"] == pytest.approx(trained["accuracy"])
    assert metrics["macro_f1"] == pytest.approx(trained["macro_f1"])
    assert metrics["confusion_matrix"] == trained["confusion_matrix"]
    assert set(metrics["per_class"]) == set(CLASS_NAMES)
    for c in metrics["per_class"].values():
        assert set(c) == {"precision", "recall", "f1", "support"}
    assert sum(c["support"] for c in metrics["per_class"].values()) == metrics["num_samples"]
    # every detector, on the same photos, in one table; the first one is the headline
    assert list(metrics["detectors"]) == ["centerface@640", "dnn", "haar"]
    assert metrics["detectors"]["centerface@640"]["precision"] == "int8"   # the node's file
    assert metrics["end_to_end"]["name"] == "centerface@640"
    faces = len(metrics["all_face_sizes"]["confusion_matrix"]) and sum(
        map(sum, metrics["all_face_sizes"]["confusion_matrix"]))
    for name, d in metrics["detectors"].items():
        for iou in ("0.3", "0.5"):
            assert d[f"recall_iou_{iou}"]["by_size"]["all"]["faces"] == faces
            assert set(d[f"recall_iou_{iou}"]["by_class"]) == set(CLASS_NAMES)
        found = {iou: d[f"recall_iou_{iou}"]["by_size"]["all"]["found"] for iou in ("0.3", "0.5")}
        assert found["0.5"] <= found["0.3"]
        assert 0.0 <= d["map50"] <= 1.0 and set(d["ap50"]) == set(CLASS_NAMES)
        assert d["false_detections_per_image"] >= 0.0
        assert d["ms_frame_640x480"] >= d["ms_detector_640x480"] > 0.0
        # 95 % intervals by resampling the photos: they hold the value itself
        ci = d["ci95"]
        assert ci["map50"][0] <= d["map50"] <= ci["map50"][1]
        assert ci["face_ap50"][0] <= d["face_ap50"] <= ci["face_ap50"][1]
        assert set(ci["ap50"]) == set(CLASS_NAMES)
        low, high = ci["recall_iou_0.3"]["all"]
        assert low <= d["recall_iou_0.3"]["by_size"]["all"]["recall"] <= high
        # the other detectors against the headline, on the same resampled photos
        if name != "centerface@640":
            diff = ci["map50_minus_headline"]
            assert diff["value"] == pytest.approx(
                d["map50"] - metrics["detectors"]["centerface@640"]["map50"], abs=1e-3)
            assert diff["interval"][0] <= diff["value"] <= diff["interval"][1]
        else:
            assert "map50_minus_headline" not in ci
    # the generated faces are large and clear: CenterFace finds them all, in the right place
    cf = metrics["detectors"]["centerface@640"]
    assert cf["recall_iou_0.5"]["by_size"]["all"]["recall"] == 1.0
    assert cf["face_ap50"] > 0.9
    with open(os.path.join(ev, "detectors.md")) as f:
        table = f.read()
    assert table.startswith("| detector |") and "`centerface@640`" in table and "`haar`" in table
    for name in ("confusion_matrix.png", "confusion_matrix_end_to_end.png"):
        assert cv2.imread(os.path.join(ev, name)) is not None


def test_evaluate_maps_the_models_classes_by_name(voc_run, tmp_path):
    """A checkpoint whose classes are stored in another order scores the same."""
    data, out = voc_run
    ckpt = torch.load(os.path.join(out, "last.pt"), map_location="cpu", weights_only=True)
    order = [2, 0, 1]
    ckpt["class_names"] = [ckpt["class_names"][i] for i in order]
    for key in ("fc.weight", "fc.bias"):
        ckpt["state_dict"][key] = ckpt["state_dict"][key][order]
    torch.save(ckpt, tmp_path / "permuted.pt")
    results = []
    for model in (os.path.join(out, "last.pt"), str(tmp_path / "permuted.pt")):
        ev = str(tmp_path / ("eval_" + os.path.basename(model)))
        assert evaluate.main(["--model", model, "--split", os.path.join(out, "split.json"),
                              "--out", ev, "--detectors", "centerface@320",
                              "--timing-frames", "0"]) == 0
        with open(os.path.join(ev, "metrics.json")) as f:
            results.append(json.load(f))
    a, b = results
    assert a["confusion_matrix"] == b["confusion_matrix"]
    assert a["end_to_end"]["ap50"] == pytest.approx(b["end_to_end"]["ap50"])
    assert a["end_to_end"]["input_size"] == 320


def test_evaluate_compares_with_a_baseline_classifier_paired(voc_run, tmp_path,
                                                             tiny_checkpoint):
    """--baseline-model: the headline detector's detections classified by a second model;
    our mAP50 minus its, with an interval from the same resampled photos.
    """
    _, out = voc_run
    ev = str(tmp_path / "eval")
    assert evaluate.main(["--model", os.path.join(out, "last.pt"), "--split",
                          os.path.join(out, "split.json"), "--out", ev, "--detectors",
                          "centerface,dnn", "--timing-frames", "0", "--baseline-model",
                          tiny_checkpoint]) == 0
    with open(os.path.join(ev, "metrics.json")) as f:
        metrics = json.load(f)
    ours = metrics["detectors"]["centerface@640"]
    versus = ours["versus_baseline"]
    assert versus["model"] == os.path.abspath(tiny_checkpoint)
    assert set(versus["ap50"]) == set(CLASS_NAMES)
    diff = versus["map50_minus_baseline"]
    assert diff["value"] == pytest.approx(ours["map50"] - versus["map50"], abs=1e-3)
    assert diff["interval"][0] <= diff["value"] <= diff["interval"][1]
    assert "versus_baseline" not in metrics["detectors"]["dnn"]      # the headline only
    # the same model as its own baseline: no difference on any resampling
    ev = str(tmp_path / "self")
    assert evaluate.main(["--model", os.path.join(out, "last.pt"), "--split",
                          os.path.join(out, "split.json"), "--out", ev, "--detectors",
                          "centerface", "--timing-frames", "0", "--baseline-model",
                          os.path.join(out, "last.pt")]) == 0
    with open(os.path.join(ev, "metrics.json")) as f:
        same = json.load(f)["end_to_end"]["versus_baseline"]["map50_minus_baseline"]
    assert same == {"value": 0.0, "interval": [0.0, 0.0]}


def test_evaluate_scores_camera_conditions_against_the_photos_as_they_are(voc_run, tmp_path,
                                                                         capsys):
    """--conditions: the headline detector and the classifier on degraded photos, each with
    its mAP50 minus that on the photos as they are (paired); a bad name fails first.
    """
    _, out = voc_run
    args = ["--model", os.path.join(out, "last.pt"), "--split", os.path.join(out, "split.json"),
            "--timing-frames", "0", "--detectors", "centerface,dnn"]
    ev = str(tmp_path / "eval")
    assert evaluate.main([*args, "--out", ev, "--conditions", "mono,low_light"]) == 0
    with open(os.path.join(ev, "metrics.json")) as f:
        metrics = json.load(f)
    assert list(metrics["conditions"]) == ["mono", "low_light"]
    headline = metrics["end_to_end"]
    for name, c in metrics["conditions"].items():
        assert c["detector"] == "centerface@640"
        diff = c["ci95"]["map50_minus_headline"]
        assert diff["value"] == pytest.approx(c["map50"] - headline["map50"], abs=1e-3)
        assert diff["interval"][0] <= diff["value"] <= diff["interval"][1]
        assert c["classifier_on_labelled_boxes"]["num_samples"] == metrics["num_samples"]
    # the photos really were degraded: the scores moved (unchanged photos give exactly the
    # headline's mAP50 and a difference of 0 on every resampling)
    assert any(c["map50"] != headline["map50"] for c in metrics["conditions"].values())
    with open(os.path.join(ev, "conditions.md")) as f:
        rows = [line for line in f.read().splitlines() if line.startswith("| ")]
    assert [r.split(" | ")[0] for r in rows[2:]] == ["| as is", "| `mono`", "| `low_light`"]
    assert evaluate.main([*args, "--out", str(tmp_path / "bad"), "--conditions", "fog"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: unknown condition 'fog'") and "\n" not in err
    assert not os.path.exists(tmp_path / "bad")     # refused before any work


def test_training_can_reuse_a_saved_split(voc_run, tmp_path):
    data, out = voc_run
    again = str(tmp_path / "again")
    assert train.main(["--data", data, "--out", again, "--split", os.path.join(out, "split.json"),
                       "--seed", "5", *TINY[:2], "--epochs", "1", *TINY[2:]]) == 0
    with open(os.path.join(out, "split.json")) as f, open(os.path.join(again, "split.json")) as g:
        first, second = json.load(f), json.load(g)
    assert second["train"] == first["train"] and second["val"] == first["val"]
    # evaluate finds that split again from the checkpoint, although its seed differs
    ev = str(tmp_path / "eval")
    assert evaluate.main(["--model", os.path.join(again, "last.pt"), "--data", data,
                          "--subset", "val", "--out", ev, "--no-end-to-end"]) == 0
    with open(os.path.join(ev, "metrics.json")) as f:
        n_val = sum(map(sum, json.load(f)["all_face_sizes"]["confusion_matrix"]))
    assert n_val == 2 * len(first["val"])   # two faces per generated photo


def test_evaluate_takes_a_centerface_file_of_ones_own(voc_run, tmp_path, capsys):
    """A .onnx item is a CenterFace file (e.g. of train-detector or mix-detector), run as it
    is, scored beside the others and paired with the headline: the float32 file is scored as
    float32, and the shipped int8 file itself exactly as `centerface`.
    """
    _, out = voc_run
    own = os.path.join(default_face_model_dir(), CENTERFACE_INT8_ONNX)
    fp32 = os.path.join(default_face_model_dir(), CENTERFACE_ONNX)
    ev = str(tmp_path / "eval")
    assert evaluate.main(["--model", os.path.join(out, "last.pt"), "--split",
                          os.path.join(out, "split.json"), "--out", ev, "--detectors",
                          f"centerface,{own}@320,{own},{fp32}", "--timing-frames", "0"]) == 0
    with open(os.path.join(ev, "metrics.json")) as f:
        detectors = json.load(f)["detectors"]
    assert list(detectors) == ["centerface@640", f"{own}@320", f"{own}@640", f"{fp32}@640"]
    same, smaller = detectors[f"{own}@640"], detectors[f"{own}@320"]
    assert same["precision"] == "int8" and same["input_size"] == 640
    assert smaller["input_size"] == 320
    assert detectors[f"{fp32}@640"]["precision"] == "float32"
    assert detectors[f"{fp32}@640"]["backend"] == "onnxruntime"
    assert same["map50"] == detectors["centerface@640"]["map50"]
    assert same["ci95"]["map50_minus_headline"] == {"value": 0.0, "interval": [0.0, 0.0]}
    missing = str(tmp_path / "none.onnx")
    assert evaluate.main(["--model", os.path.join(out, "last.pt"), "--split",
                          os.path.join(out, "split.json"), "--out", ev, "--detectors",
                          f"centerface,{missing}"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and "none.onnx not found" in err


def test_evaluate_reads_recall_at_the_node_s_lower_bar_for_big_faces(voc_run, tmp_path):
    """One photo: the astronaut blurred (sigma 9), whose 121 px face CenterFace scores about
    0.18. At the default large_face_confidence 0.1 it is found, at 0.3 it is not; AP, which
    reads every score, is the same; dnn keeps one bar and records none.
    """
    _, out = voc_run
    data = tmp_path / "blurred"
    (data / "images").mkdir(parents=True)
    (data / "annotations").mkdir()
    frame = cv2.GaussianBlur(astronaut_bgr(), (0, 0), 9.0)
    cv2.imwrite(str(data / "images" / "blurred.png"), frame)
    (data / "annotations" / "blurred.xml").write_text(
        "<annotation><filename>blurred.png</filename><size><width>512</width><height>512"
        "</height><depth>3</depth></size><object><name>without_mask</name><bndbox><xmin>179"
        "</xmin><ymin>57</ymin><xmax>272</xmax><ymax>178</ymax></bndbox></object></annotation>")
    found = {}
    for bar in ("0.1", "0.3"):
        ev = str(tmp_path / f"eval{bar}")
        assert evaluate.main(["--model", os.path.join(out, "last.pt"), "--data", str(data),
                              "--out", ev, "--detectors", "centerface,dnn", "--timing-frames",
                              "0", "--bootstrap", "0", "--large-face-confidence", bar]) == 0
        with open(os.path.join(ev, "metrics.json")) as f:
            found[bar] = json.load(f)["detectors"]
    for bar, recall in (("0.1", 1.0), ("0.3", 0.0)):
        cf = found[bar]["centerface@640"]
        assert cf["large_face_confidence"] == float(bar)
        assert cf["recall_iou_0.3"]["by_size"][">=96"]["recall"] == recall
        assert found[bar]["dnn"]["large_face_confidence"] is None
    assert (found["0.1"]["centerface@640"]["face_ap50"]
            == found["0.3"]["centerface@640"]["face_ap50"])
    assert found["0.1"]["dnn"]["recall_iou_0.3"] == found["0.3"]["dnn"]["recall_iou_0.3"]


def test_evaluate_refuses_unknown_detectors(voc_run, tmp_path, capsys):
    _, out = voc_run
    # centerface-widerface, the published net, has a fixed input size that ONNX Runtime
    # cannot run on frames: it is only the base of train-detector now
    for bad in ("yolo", "dnn@320", "centerface@big", "", "centerface-widerface"):
        assert evaluate.main(["--model", os.path.join(out, "last.pt"), "--split",
                              os.path.join(out, "split.json"), "--out", str(tmp_path),
                              "--detectors", bad]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: ") and "\n" not in err and "detector" in err


def test_training_on_crop_folders(tmp_path):
    data = make_crop_folders(str(tmp_path / "crops"), per_class=8)
    out = str(tmp_path / "run")
    assert train.main(["--data", data, "--out", out, *TINY]) == 0
    ckpt = torch.load(os.path.join(out, "last.pt"), weights_only=True)
    assert ckpt["crop_margin"] == 0.0  # crops are already cut around the face
    ev = str(tmp_path / "eval")
    assert evaluate.main(["--model", os.path.join(out, "last.pt"), "--data", data,
                          "--out", ev]) == 0
    with open(os.path.join(ev, "metrics.json")) as f:
        metrics = json.load(f)
    assert metrics["num_samples"] == 24 and "end_to_end" not in metrics


def test_bad_dataset_is_one_clear_line(tmp_path, capsys):
    assert train.main(["--data", str(tmp_path), "--out", str(tmp_path / "r"), *TINY]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "images/" in err and len(err.splitlines()) == 1


# ---------------------------------------------------------------- offline tools (the contract)
def _read_jsonl(path):
    with open(path) as f:
        return [json.loads(line) for line in f]


def _check_detection(det, width, height):
    assert set(det) == {"bbox", "label", "score", "face_score", "scores"}
    x0, y0, x1, y1 = det["bbox"]
    assert all(isinstance(v, int) for v in det["bbox"])
    assert 0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height
    assert det["label"] in CLASS_NAMES and set(det["scores"]) == set(CLASS_NAMES)
    assert det["score"] == pytest.approx(max(det["scores"].values()), abs=1e-5)
    assert det["scores"][det["label"]] == pytest.approx(det["score"], abs=1e-5)
    assert sum(det["scores"].values()) == pytest.approx(1.0, abs=1e-3)


def test_detect_images_folders_videos_and_errors(voc_run, tmp_path):
    _, out = voc_run
    model = os.path.join(out, "last.pt")
    folder = tmp_path / "in" / "sub"
    folder.mkdir(parents=True)
    astro = astronaut_bgr()
    cv2.imwrite(str(folder / "astronaut.jpg"), astro)
    cv2.imwrite(str(tmp_path / "in" / "empty.png"), np.full((120, 160, 3), 90, np.uint8))
    video = str(tmp_path / "clip.avi")
    writer = cv2.VideoWriter(video, cv2.VideoWriter_fourcc(*"MJPG"), 5, (512, 512))
    for _ in range(3):
        writer.write(astro)
    writer.release()
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a png at all")
    jsonl, ann = str(tmp_path / "out.jsonl"), str(tmp_path / "ann")
    code = offline.main_detect([str(tmp_path / "in"), video, str(broken), "--jsonl", jsonl,
                                "--annotate", ann, "--model-path", model])
    assert code == 1  # one file failed
    lines = _read_jsonl(jsonl)
    by_image = {}
    for line in lines:
        by_image.setdefault(line["image"], []).append(line)
    assert by_image[str(broken)] == [{"image": str(broken),
                                      "error": by_image[str(broken)][0]["error"]}]
    astro_line = by_image[str(folder / "astronaut.jpg")][0]
    assert (astro_line["width"], astro_line["height"]) == (512, 512)
    assert len(astro_line["detections"]) == 1
    _check_detection(astro_line["detections"][0], 512, 512)
    x0, y0, x1, y1 = astro_line["detections"][0]["bbox"]
    assert 179 - 20 < (x0 + x1) / 2 - 46 < 179 + 20 and 57 - 25 < (y0 + y1) / 2 - 60 < 57 + 25
    assert by_image[str(tmp_path / "in" / "empty.png")][0]["detections"] == []
    frames = by_image[video]
    assert [f["frame"] for f in frames] == [0, 1, 2]
    assert all(len(f["detections"]) == 1 for f in frames)
    assert len(os.listdir(ann)) == 2 + 3
    # all good files: exit code 0
    assert offline.main_detect([str(folder), "--jsonl", str(tmp_path / "ok.jsonl"),
                                "--model-path", model]) == 0


def test_detect_refuses_an_empty_folder_and_a_file_as_annotate_folder(voc_run, tmp_path,
                                                                       capsys):
    """A folder with no images (a typo, say) fails like a missing file, not as a quiet run of
    nothing; --annotate naming a file is one line before any model is loaded.
    """
    _, out = voc_run
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("no images here")
    jsonl = str(tmp_path / "e.jsonl")
    for main in (offline.main_detect, offline.main_classify):
        assert main([str(empty), "--jsonl", jsonl, "--model-path",
                     os.path.join(out, "last.pt")]) == 1
        (line,) = _read_jsonl(jsonl)
        assert line["image"] == str(empty) and "no images or videos in folder" in line["error"]
        err = capsys.readouterr().err
        assert "warning: no images or videos in folder" in err and "1 file failed" in err
    target = tmp_path / "a_file.txt"
    target.write_text("x")
    assert offline.main_detect([str(empty), "--jsonl", jsonl, "--annotate", str(target),
                                "--model-path", str(tmp_path / "no_model.pt")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: --annotate needs a folder") and "\n" not in err


def test_classify_treats_each_image_as_one_crop(voc_run, tmp_path):
    _, out = voc_run
    crops = make_crop_folders(str(tmp_path / "crops"), per_class=1)
    jsonl = str(tmp_path / "c.jsonl")
    assert offline.main_classify([crops, "--jsonl", jsonl, "--model-path",
                                  os.path.join(out, "last.pt")]) == 0
    lines = _read_jsonl(jsonl)
    assert len(lines) == 3
    for line in lines:
        assert len(line["detections"]) == 1
        det = line["detections"][0]
        _check_detection(det, line["width"], line["height"])
        assert det["bbox"] == [0, 0, line["width"], line["height"]]


def test_cli_reports_a_missing_model_in_one_line(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "marrtino_facemask", "detect", str(tmp_path),
                           "--jsonl", str(tmp_path / "x.jsonl"), "--model-path",
                           str(tmp_path / "nope.pt")], cwd=REPO, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 2
    err = proc.stderr.strip().splitlines()
    assert len(err) == 1 and "nope.pt" in err[0] and "not found" in err[0]


def test_evaluate_recomputes_the_training_split_from_the_checkpoint(voc_run, tmp_path):
    data, out = voc_run
    saved, again = str(tmp_path / "saved"), str(tmp_path / "again")
    model = os.path.join(out, "last.pt")
    assert evaluate.main(["--model", model, "--split", os.path.join(out, "split.json"),
                          "--out", saved, "--no-end-to-end"]) == 0
    assert evaluate.main(["--model", model, "--data", data, "--subset", "val",
                          "--out", again, "--no-end-to-end"]) == 0
    with open(os.path.join(saved, "metrics.json")) as f:
        a = json.load(f)
    with open(os.path.join(again, "metrics.json")) as f:
        b = json.load(f)
    assert a["num_samples"] == b["num_samples"] > 0
    assert a["confusion_matrix"] == b["confusion_matrix"]


def test_annotated_images_of_same_named_files_do_not_overwrite(voc_run, tmp_path):
    _, out = voc_run
    for sub in ("a", "b"):
        (tmp_path / sub).mkdir()
        cv2.imwrite(str(tmp_path / sub / "x.jpg"), astronaut_bgr())
    cv2.imwrite(str(tmp_path / "a" / "x.png"), astronaut_bgr())
    ann = tmp_path / "ann"
    assert offline.main_detect([str(tmp_path / "a"), str(tmp_path / "b"), "--jsonl",
                                str(tmp_path / "o.jsonl"), "--annotate", str(ann),
                                "--model-path", os.path.join(out, "last.pt")]) == 0
    assert len(os.listdir(ann)) == 3


def test_unwritable_output_is_one_clear_line(voc_run, tmp_path, capsys):
    _, out = voc_run
    code = offline.main_detect([str(tmp_path), "--jsonl", str(tmp_path / "no" / "dir" / "o.jsonl"),
                                "--model-path", os.path.join(out, "last.pt")])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:")
