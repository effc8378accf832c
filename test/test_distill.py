"""Distillation from an ensemble of trained classifiers (train --teachers) and the data-loading
workers' augmentation streams (train --workers): real models, real tiny training runs.
"""

import json
import os

import numpy as np
import pytest
import torch
from synthetic import ASTRONAUT_FACE, astronaut_bgr, make_crop_folders

from marrtino_facemask.crops import crop_face
from marrtino_facemask.lab import train
from marrtino_facemask.lab.checkpoint import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    default_checkpoint_path,
    load_checkpoint,
    model_from_checkpoint,
)
from marrtino_facemask.lab.classifier_torch import to_tensor_batch
from marrtino_facemask.lab.distill import EnsembleTeacher, TeacherError, distillation_loss
from marrtino_facemask.labels import CLASS_NAMES

TINY = ["--epochs", "1", "--input-size", "32", "--batch-size", "8", "--no-progress",
        "--threads", "2"]


def _astronaut_batch(size=96, margin=0.15):
    image = astronaut_bgr()
    crops = [crop_face(image, ASTRONAUT_FACE, size, margin),
             crop_face(image[:, ::-1].copy(), (512 - 272, 57, 512 - 179, 178), size, margin)]
    return to_tensor_batch(crops, IMAGENET_MEAN, IMAGENET_STD)


def test_distillation_loss_is_zero_at_the_teacher_and_pulls_towards_it():
    teacher_logits = torch.tensor([[2.0, -1.0, 0.5], [-0.3, 0.1, 1.7]])
    soft = torch.softmax(teacher_logits / 3.0, dim=1)
    assert distillation_loss(teacher_logits, soft, 3.0).item() == pytest.approx(0.0, abs=1e-6)
    student = torch.zeros(2, 3, requires_grad=True)
    loss = distillation_loss(student, soft, 3.0)
    assert loss.item() > 0.01
    loss.backward()
    # a gradient step moves the student's tempered probabilities towards the teacher's
    stepped = torch.softmax((student - 1.0 * student.grad) / 3.0, dim=1)
    before = torch.softmax(torch.zeros(2, 3), dim=1)
    assert (stepped - soft).abs().sum() < (before - soft).abs().sum()


def test_teacher_averages_its_members_and_maps_classes_by_name(tmp_path):
    shipped = default_checkpoint_path()
    ckpt = load_checkpoint(shipped)
    # the same network, saved with its classes (and its head's rows) in another order
    order = [2, 0, 1]
    permuted = dict(ckpt, class_names=[ckpt["class_names"][i] for i in order])
    state = dict(ckpt["state_dict"])
    state["fc.weight"], state["fc.bias"] = state["fc.weight"][order], state["fc.bias"][order]
    permuted["state_dict"] = state
    torch.save(permuted, tmp_path / "permuted.pt")

    x = _astronaut_batch(ckpt["input_size"], ckpt["crop_margin"])
    model = model_from_checkpoint(ckpt).eval()
    with torch.no_grad():
        expected = torch.softmax(model(x) / 2.0, dim=1)[
            :, [ckpt["class_names"].index(n) for n in CLASS_NAMES]]
    args = (ckpt["input_size"], ckpt["crop_margin"], ckpt["mean"], ckpt["std"])
    one = EnsembleTeacher([shipped], *args)
    two = EnsembleTeacher([shipped, str(tmp_path / "permuted.pt")], *args)
    one.train()     # a student's .train() must not unfreeze the teachers' batch norm
    assert not any(m.training for m in one.modules())
    assert torch.allclose(one(x, 2.0), expected, atol=1e-5)
    assert torch.allclose(two(x, 2.0), expected, atol=1e-5)
    assert torch.allclose(one(x, 2.0).sum(1), torch.ones(2), atol=1e-5)
    # a higher temperature gives softer answers
    assert one(x, 5.0).max() < one(x, 1.0).max()


def test_teacher_with_another_input_size_is_refused_in_one_line(tmp_path, capsys):
    data = make_crop_folders(str(tmp_path / "crops"), per_class=4)
    rc = train.main(["--data", data, "--out", str(tmp_path / "r"), *TINY,
                     "--teachers", default_checkpoint_path()])
    assert rc == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("error: teacher")
    assert "input_size 96" in err and "--input-size" in err


def test_teacher_with_other_classes_is_refused(tmp_path):
    ckpt = load_checkpoint(default_checkpoint_path())
    torch.save(dict(ckpt, class_names=["a", "b", "c"]), tmp_path / "other.pt")
    with pytest.raises(TeacherError, match="has the classes"):
        EnsembleTeacher([str(tmp_path / "other.pt")], ckpt["input_size"], ckpt["crop_margin"],
                        ckpt["mean"], ckpt["std"])


def test_student_learns_from_teachers_with_data_workers(tmp_path):
    data = make_crop_folders(str(tmp_path / "crops"), per_class=8)
    teacher = str(tmp_path / "teacher")
    assert train.main(["--data", data, "--out", teacher, *TINY, "--seed", "1"]) == 0
    student = str(tmp_path / "student")
    assert train.main(["--data", data, "--out", student, *TINY, "--workers", "2",
                       "--teachers", os.path.join(teacher, "last.pt"),
                       "--distill-weight", "1.0", "--distill-temperature", "4"]) == 0
    meta = torch.load(os.path.join(student, "last.pt"), weights_only=True)["meta"]
    assert meta["args"]["teachers"] == [os.path.join(teacher, "last.pt")]
    with open(os.path.join(student, "args.json")) as f:
        assert json.load(f)["workers"] == 2
    # with only the teachers' term, the loss is a KL divergence at T=4, far below the
    # cross-entropy of a fresh 3-class net (about ln 3 = 1.1) that the labels would give
    with open(os.path.join(student, "metrics.csv")) as f:
        loss = float(f.read().splitlines()[1].split(",")[2])
    assert 0.0 <= loss < 0.5


class _Draws(torch.utils.data.Dataset):
    """Each item is one draw of the dataset's own generator, as CropDataset's augmentation."""

    def __init__(self):
        self.rng = np.random.default_rng(0)

    def __len__(self):
        return 16

    def __getitem__(self, i):
        return self.rng.random()


def test_each_worker_draws_its_own_augmentations_each_epoch():
    torch.manual_seed(0)
    loader = torch.utils.data.DataLoader(_Draws(), batch_size=4, num_workers=2,
                                         worker_init_fn=train.seed_worker)
    first = torch.cat(list(loader)).tolist()
    second = torch.cat(list(loader)).tolist()
    assert len(set(first)) == 16            # no two workers repeat each other's crops
    assert not set(first) & set(second)     # and a new epoch gets new crops
    plain = torch.cat(list(torch.utils.data.DataLoader(_Draws(), batch_size=4, num_workers=2)))
    assert len(set(plain.tolist())) == 8    # what happens without seed_worker
