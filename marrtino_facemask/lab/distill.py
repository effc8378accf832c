"""Knowledge distillation for ``train --teachers``: a student classifier learns from the averaged,
softened predictions of several trained classifiers (an ensemble) as well as from the labels.

Hinton et al. (2015), "Distilling the knowledge in a neural network": the loss is
``(1 - w) * cross_entropy(labels) + w * T^2 * KL(teacher_T || student_T)``, where ``_T`` are
softmax outputs at temperature T and the teacher's are the mean of its members' tempered
probabilities. Seeds of one recipe disagree most on the rare class; an ensemble's averaged
answer carries less of that noise than one model's, and the student keeps one model's cost.
"""

import torch
from torch import nn

from ..labels import CLASS_NAMES
from .checkpoint import load_checkpoint, model_from_checkpoint


class TeacherError(ValueError):
    """A teacher checkpoint cannot teach this run (one line, says what to do)."""


def dataset_columns(class_names, path):
    """Indices that reorder a model's outputs into the dataset's class order (by name)."""
    if sorted(class_names) != sorted(CLASS_NAMES):
        raise TeacherError(f"teacher '{path}' has the classes {list(class_names)}, not "
                           f"{list(CLASS_NAMES)}: give teachers trained on these classes")
    return [list(class_names).index(n) for n in CLASS_NAMES]


class EnsembleTeacher(nn.Module):
    """Frozen classifiers whose tempered probabilities are averaged, in the dataset's order."""

    def __init__(self, paths, input_size, margin, mean, std):
        super().__init__()
        if not paths:
            raise TeacherError("--teachers needs at least one checkpoint")
        members, columns = [], []
        for path in paths:
            ckpt = load_checkpoint(path)
            wanted = {"input_size": input_size, "crop_margin": margin}
            for key, value in wanted.items():
                if abs(float(ckpt[key]) - float(value)) > 1e-6:
                    raise TeacherError(f"teacher '{path}' has {key} {ckpt[key]}, the student "
                                       f"{value}: train the student with the teachers' "
                                       "--input-size and --margin")
            if ([round(v, 6) for v in ckpt["mean"]] != [round(v, 6) for v in mean]
                    or [round(v, 6) for v in ckpt["std"]] != [round(v, 6) for v in std]):
                raise TeacherError(f"teacher '{path}' normalises its input differently "
                                   f"(mean {ckpt['mean']}, std {ckpt['std']}): give teachers "
                                   "trained by this package")
            columns.append(dataset_columns(ckpt["class_names"], path))
            model = model_from_checkpoint(ckpt, path).eval()
            for p in model.parameters():
                p.requires_grad_(False)
            members.append(model)
        self.members = nn.ModuleList(members)
        self.columns = columns

    def train(self, mode=True):
        # the teachers stay in eval mode (batch-norm statistics frozen) whatever the student does
        return super().train(False)

    @torch.no_grad()
    def forward(self, x, temperature=1.0):
        probs = [torch.softmax(m(x) / temperature, dim=1)[:, cols]
                 for m, cols in zip(self.members, self.columns)]
        return torch.stack(probs).mean(0)


def distillation_loss(student_logits, teacher_probs, temperature):
    """T^2 * KL(teacher || student) at temperature T, batch mean (the T^2 keeps the gradient's
    scale independent of T, as in Hinton et al.).
    """
    log_student = torch.log_softmax(student_logits / temperature, dim=1)
    return (nn.functional.kl_div(log_student, teacher_probs, reduction="batchmean")
            * temperature ** 2)
