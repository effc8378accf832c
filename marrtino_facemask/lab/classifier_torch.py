"""The classifier on torch: the .pt checkpoint as training wrote it (also used by training,
evaluation on torch and the export's parity check).
"""

import torch

from ..classifier import to_input_batch
from ..threads import configured_threads
from .checkpoint import load_checkpoint, model_from_checkpoint

if configured_threads() > 0:   # the `threads` setting, where one was applied
    torch.set_num_threads(configured_threads())
DEVICES = ("auto", "cpu", "cuda")


def resolve_device(device="auto"):
    if device not in DEVICES:
        raise ValueError(f"unknown device '{device}': use one of {', '.join(DEVICES)}")
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' asked for but torch sees no CUDA GPU: use --device "
                         "auto or cpu")
    return torch.device(device)


def to_tensor_batch(crops_bgr, mean, std):
    """:func:`classifier.to_input_batch` as a torch tensor (N, 3, H, W)."""
    return torch.from_numpy(to_input_batch(crops_bgr, mean, std))


@torch.inference_mode()
def predict_probs(model, crops_bgr, mean, std, device, batch_size=256):
    """Class probabilities (N, C) of BGR crops, in batches (training's validation pass)."""
    model.eval()
    out = [torch.softmax(model(to_tensor_batch(crops_bgr[i:i + batch_size], mean, std)
                               .to(device)), dim=1).float().cpu()
           for i in range(0, len(crops_bgr), batch_size)]
    return torch.cat(out).numpy() if out else None


class TorchNet:
    """A checkpoint's ResNet18 on a torch device; :meth:`probabilities` of an input batch."""

    backend = "torch"
    precision = "float32"

    def __init__(self, path, device="auto"):
        self.path = path
        ckpt = load_checkpoint(path)
        self.class_names = tuple(ckpt["class_names"])
        self.input_size = int(ckpt["input_size"])
        self.margin = float(ckpt["crop_margin"])
        self.mean = tuple(ckpt["mean"])
        self.std = tuple(ckpt["std"])
        self.meta = ckpt.get("meta", {})
        self.device = resolve_device(device)
        self.model = model_from_checkpoint(ckpt, path).to(self.device).eval()

    @torch.inference_mode()
    def probabilities(self, batch):
        logits = self.model(torch.from_numpy(batch).to(self.device))
        return torch.softmax(logits, dim=1).float().cpu().numpy()
