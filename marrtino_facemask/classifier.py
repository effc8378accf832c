"""Mask classifier: a ResNet18 checkpoint applied to a batch of face crops."""

import numpy as np
import torch

from .checkpoint import load_checkpoint, model_from_checkpoint
from .crops import crop_face

DEVICES = ("auto", "cpu", "cuda")


def resolve_device(device="auto"):
    if device not in DEVICES:
        raise ValueError(f"unknown device '{device}': use one of {', '.join(DEVICES)}")
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' asked for but torch sees no CUDA GPU: use device:=auto or cpu")
    return torch.device(device)


def to_tensor_batch(crops_bgr, mean, std):
    """Stack BGR uint8 crops (H, W, 3) into a normalised float RGB batch (N, 3, H, W)."""
    batch = np.stack(crops_bgr)[..., ::-1].astype(np.float32) / 255.0
    batch = (batch - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)
    return torch.from_numpy(np.ascontiguousarray(batch.transpose(0, 3, 1, 2)))


@torch.inference_mode()
def predict_probs(model, crops_bgr, mean, std, device, batch_size=256):
    """Class probabilities (N, C) of BGR crops, in batches: the one inference path of the node,
    the offline tools, evaluation and training."""
    model.eval()
    out = [torch.softmax(model(to_tensor_batch(crops_bgr[i:i + batch_size], mean, std)
                               .to(device)), dim=1).float().cpu()
           for i in range(0, len(crops_bgr), batch_size)]
    return torch.cat(out).numpy() if out else None


class MaskClassifier:
    """Loads a checkpoint; :meth:`predict` turns face crops into class probabilities."""

    def __init__(self, model_path, device="auto"):
        ckpt = load_checkpoint(model_path)
        self.path = model_path
        self.class_names = tuple(ckpt["class_names"])
        self.input_size = int(ckpt["input_size"])
        self.margin = float(ckpt["crop_margin"])
        self.mean = tuple(ckpt["mean"])
        self.std = tuple(ckpt["std"])
        self.meta = ckpt.get("meta", {})
        self.device = resolve_device(device)
        self.model = model_from_checkpoint(ckpt, model_path).to(self.device).eval()

    def crop(self, image_bgr, box):
        return crop_face(image_bgr, box, self.input_size, self.margin)

    def predict(self, crops_bgr):
        """Probabilities (N, num_classes) for N crops of ``input_size`` px, in batches."""
        if len(crops_bgr) == 0:
            return np.zeros((0, len(self.class_names)), np.float32)
        return predict_probs(self.model, crops_bgr, self.mean, self.std, self.device)
