"""``python -m marrtino_facemask mix-detector``: move a fine-tuned CenterFace part of the way
back to the published one, by averaging their weights (WiSE-FT).

WiSE-FT (Wortsman et al., "Robust fine-tuning of zero-shot models", CVPR 2022) takes the
weights of a fine-tuned net and of the net it started from and keeps their weighted average,
``(1 - alpha) * fine_tuned + alpha * base``. Both nets start from the same weights, so the
average is a working net of the same architecture and the same speed. It kept the fine-tuned
net's gain on the target data and much of the base net's robustness to data it had not seen.
Here the base is CenterFace as published, trained on WIDER FACE's 32,000 photos; the
fine-tuned net saw 547 photos of ``face_mask_scenes``.

``train-detector`` applies it to the net that it trains (``--wise-alpha``, default
:data:`DEFAULT_ALPHA`). This command applies it to a net already trained, such as a
``centerface_finetuned.onnx`` written by ``train-detector``: the model card says how the
default alpha was chosen.

The two ONNX files are converted to torch by onnx2torch, which names the layers after the
graph's node names; those differ between the published file and our exports, so the weights
are paired in the order of the layers, and every pair must be of the same kind of layer and
the same shape. torch has no function to average two modules' weights (its ``swa_utils``
keeps a running mean of one net over time), hence the loop in :func:`interpolate`.
"""

import argparse
import os
import sys

import cv2
import numpy as np
import torch

from ..faces import CENTERFACE_BASE_ONNX, CENTERFACE_ONNX, default_face_model_dir
from .centerface_torch import PARITY_LIMIT, export_onnx, load_centerface_torch, parity

DEFAULT_ALPHA = 0.2


class MixError(ValueError):
    """Two nets that cannot be averaged, or a bad alpha; ``str(exc)`` is one line."""


def _entries(model):
    """[(layer class name, state-dict name, tensor)] in the order of the layers."""
    owner = {}
    for name, module in model.named_modules():
        for local in list(module.named_parameters(recurse=False)) + list(
                module.named_buffers(recurse=False)):
            owner[f"{name}.{local[0]}" if name else local[0]] = type(module).__name__
    return [(owner.get(k, ""), k, v) for k, v in model.state_dict().items()]


def interpolate(fine_tuned, base, alpha=DEFAULT_ALPHA):
    """Set ``fine_tuned``'s weights to ``(1 - alpha) * fine_tuned + alpha * base``, in place,
    and return it. Float tensors are averaged (weights, biases, BatchNorm's running mean and
    variance); the others (BatchNorm's step counters) keep the fine-tuned value.
    """
    if not 0.0 <= alpha <= 1.0:
        raise MixError("alpha must be between 0 (the fine-tuned net) and 1 (the base), "
                       f"not {alpha}")
    ours, theirs = _entries(fine_tuned), _entries(base)
    if len(ours) != len(theirs):
        raise MixError(f"the two nets differ: {len(ours)} weight tensors against {len(theirs)}; "
                       "give the net that the fine-tuning started from")
    mixed = {}
    for (kind_a, name_a, a), (kind_b, name_b, b) in zip(ours, theirs):
        if kind_a != kind_b or a.shape != b.shape:
            raise MixError(f"the two nets differ at {name_a} ({kind_a} {tuple(a.shape)}) against "
                           f"{name_b} ({kind_b} {tuple(b.shape)}); give the net that the "
                           "fine-tuning started from")
        if a.is_floating_point():
            mixed[name_a] = torch.lerp(a, b.to(a.device, a.dtype), alpha)
    fine_tuned.load_state_dict(mixed, strict=False)
    return fine_tuned


def parse_args(argv):
    p = argparse.ArgumentParser(prog="python -m marrtino_facemask mix-detector",
                                description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--fine-tuned", required=True,
                   help="CenterFace ONNX fine-tuned by train-detector (its "
                        "centerface_finetuned.onnx)")
    p.add_argument("--base", default=None,
                   help=f"the CenterFace ONNX it started from (default: the shipped "
                        f"{CENTERFACE_BASE_ONNX}, CenterFace as published)")
    p.add_argument("--alpha", type=float, default=DEFAULT_ALPHA,
                   help="weight of the base: 0 keeps the fine-tuned net, 1 gives the base "
                        f"(default {DEFAULT_ALPHA}, chosen on our validation split)")
    p.add_argument("--out", required=True,
                   help=f"ONNX file to write (for the node: a folder's {CENTERFACE_ONNX}, then "
                        "`quantize --detector-model` for its int8 copy)")
    p.add_argument("--check-image", default=None,
                   help="a photo on which ONNX Runtime is checked against torch (default: a "
                        "640x480 frame of seeded random pixels)")
    return p.parse_args(argv)


def _load(path):
    try:
        return load_centerface_torch(path)
    except Exception as exc:   # onnx and onnx2torch raise many kinds: one line whatever it is
        why = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
        raise MixError(f"cannot read {path} as a float32 ONNX net ({type(exc).__name__}: "
                       f"{why}): give a float32 CenterFace .onnx, not an int8 copy")


def mix_file(fine_tuned_path, base_path, alpha, out, check_image=None):
    """Write the averaged net as ONNX; return the largest difference between ONNX Runtime on
    the written file and torch.
    """
    for path in (fine_tuned_path, base_path):
        if not os.path.isfile(path):
            raise MixError(f"{path} not found: give an existing CenterFace .onnx file")
    model, base = (_load(path) for path in (fine_tuned_path, base_path))
    if check_image:
        image = cv2.imread(check_image)
        if image is None:
            raise MixError(f"cannot read the image {check_image}: give a photo OpenCV can read")
    else:
        image = np.random.default_rng(0).integers(0, 256, (480, 640, 3), dtype=np.uint8)
    interpolate(model, base, alpha)
    if os.path.dirname(out):
        os.makedirs(os.path.dirname(out), exist_ok=True)
    export_onnx(model, out)
    return parity(model, out, image)


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    base = args.base or os.path.join(default_face_model_dir(), CENTERFACE_BASE_ONNX)
    try:
        diff = mix_file(args.fine_tuned, base, args.alpha, args.out, args.check_image)
    except (MixError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {args.out}: {1 - args.alpha:g} x {args.fine_tuned} + {args.alpha:g} x {base}; "
          f"ONNX Runtime vs torch max abs difference {diff:.2e}")
    if diff > PARITY_LIMIT:
        print(f"error: the exported ONNX disagrees with torch (max abs difference {diff:.2e})",
              file=sys.stderr)
        return 1
    return 0
