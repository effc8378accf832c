"""``python -m marrtino_facemask train-detector``: fine-tune CenterFace on VOC face boxes.

The shipped CenterFace ONNX graph is converted to PyTorch (onnx2torch), trained with the
CenterNet losses on the training side of the photo split, and exported back to ONNX. The
exported file is checked against torch with ONNX Runtime, which is what the node runs
(centerface_torch.py).

- heatmap: CenterNet's penalty-reduced focal loss against Gaussian peaks at the face centres
  (stride 4); sizes: L1 on log(side / 4); offsets: L1 on the sub-cell centre offset. These
  are the encodings the shipped net decodes (centerface.CenterFaceDetector.decode).
- landmarks: the photos have none, so the fine-tuned net is taught to keep the original
  net's landmark outputs at the face centres (L1 to a frozen copy).
- photos are scaled so that their longer side is ``--input-size`` x U(0.5, 1.5) (the node
  scales frames to input_size on the longer side), cut to ``--crop`` px squares, flipped and
  colour-jittered. Seeded.
- faces that the crop cuts so that less than half of them is left: ``--cut-faces ignore``
  leaves their area out of the heatmap loss; ``background`` (the first shipped recipe) trains
  it as background. The photos' own labels keep faces cut by the photo's edge, so training
  crop-cut faces as background taught the net the opposite of what the labels ask.

At the end the trained weights are averaged with the base net's (WiSE-FT, ``--wise-alpha``,
detector_mix.py): the shipped detector is that average.

Writes into ``--out``: centerface.onnx (the net to ship: averaged, unless --wise-alpha 0),
centerface_finetuned.onnx (the trained net before averaging), split.json (unless --split was
given), train_log.csv and args.json.
"""

import argparse
import csv
import json
import os
import sys
import time

import cv2
import numpy as np
import torch

from ..faces import (
    CENTERFACE_BASE_ONNX,
    CENTERFACE_ONNX,
    DEFAULT_INPUT_SIZE,
    default_face_model_dir,
)
from .centerface_torch import PARITY_LIMIT, export_onnx, load_centerface_torch, parity
from .data import (
    DatasetError,
    ImageCache,
    group_near_duplicates,
    load_samples,
    load_split,
    save_split,
    split_groups,
    stem_of,
)
from .detector_mix import DEFAULT_ALPHA, interpolate

STRIDE = 4
FINETUNED_ONNX = "centerface_finetuned.onnx"   # the trained net before WiSE-FT averaging


def parse_args(argv):
    p = argparse.ArgumentParser(prog="python -m marrtino_facemask train-detector",
                                description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, help="VOC scenes (images/ + annotations/)")
    p.add_argument("--out", default=None, help="run folder (default runs/detector-<time>)")
    p.add_argument("--split", default=None,
                   help="split.json (of `train`): train on its train images (matched by file "
                        "stem, so a copy of them in another format works); default: split "
                        "--data by photo with --seed and --val-fraction, as `train` does")
    p.add_argument("--base", default=None,
                   help="CenterFace ONNX to start from (default: the shipped "
                        f"{CENTERFACE_BASE_ONNX}, CenterFace as published)")
    p.add_argument("--epochs", type=int, default=60)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--lr", type=float, default=2e-4,
                   help="peak AdamW learning rate (2e-4: the shipped detector; 5e-4 was worse)")
    p.add_argument("--weight-decay", type=float, default=1e-4)
    p.add_argument("--crop", type=int, default=512, help="training crop side (multiple of 32)")
    p.add_argument("--input-size", type=int, default=DEFAULT_INPUT_SIZE,
                   help="the node's input size: photos are scaled around it")
    p.add_argument("--landmark-weight", type=float, default=0.5)
    p.add_argument("--cut-faces", default="ignore", choices=("ignore", "background"),
                   help="faces of which the crop keeps less than half: left out of the heatmap "
                        "loss (ignore) or trained as background")
    p.add_argument("--val-fraction", type=float, default=0.2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--wise-alpha", type=float, default=DEFAULT_ALPHA,
                   help="at the end, average the trained weights with the base net's, with this "
                        "weight for the base (WiSE-FT, detector_mix.py; 0: do not). The net "
                        f"before averaging is kept as {FINETUNED_ONNX}")
    p.add_argument("--save-every", type=int, default=0,
                   help="also export centerface_epochN.onnx every N epochs (0: only the last)")
    p.add_argument("--max-images", type=int, default=0, help="use only the first N (tests)")
    p.add_argument("--workers", type=int, default=0, help="DataLoader worker processes")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    args = p.parse_args(argv)
    if args.crop % 32 or args.crop < 64:
        p.error("--crop must be a multiple of 32, at least 64")
    if not 0.0 <= args.wise_alpha <= 1.0:
        p.error("--wise-alpha must be between 0 and 1")
    return args


def gaussian_radius(height, width, min_overlap=0.7):
    """CenterNet's radius: the largest centre shift keeping IoU >= min_overlap (in cells)."""
    a1, b1 = 1, height + width
    c1 = width * height * (1 - min_overlap) / (1 + min_overlap)
    r1 = (b1 + np.sqrt(b1 ** 2 - 4 * a1 * c1)) / 2
    a2, b2 = 4, 2 * (height + width)
    c2 = (1 - min_overlap) * width * height
    r2 = (b2 + np.sqrt(b2 ** 2 - 4 * a2 * c2)) / 2
    a3, b3 = 4 * min_overlap, -2 * min_overlap * (height + width)
    c3 = (min_overlap - 1) * width * height
    r3 = (b3 + np.sqrt(b3 ** 2 - 4 * a3 * c3)) / 2
    return max(0, int(min(r1, r2, r3)))


def make_targets(boxes, out_h, out_w, max_faces):
    """Heatmap (1, H, W), and per face: cell index, log sizes, offsets, mask."""
    heat = np.zeros((1, out_h, out_w), np.float32)
    index = np.zeros(max_faces, np.int64)
    size = np.zeros((max_faces, 2), np.float32)
    offset = np.zeros((max_faces, 2), np.float32)
    mask = np.zeros(max_faces, np.float32)
    for k, (x0, y0, x1, y1) in enumerate(boxes[:max_faces]):
        w, h = (x1 - x0) / STRIDE, (y1 - y0) / STRIDE
        cx, cy = (x0 + x1) / 2 / STRIDE, (y0 + y1) / 2 / STRIDE
        col, row = int(np.floor(cx)), int(np.floor(cy))
        if not (0 <= col < out_w and 0 <= row < out_h) or w <= 0 or h <= 0:
            continue
        r = gaussian_radius(np.ceil(h), np.ceil(w))
        ys, xs = np.ogrid[-r:r + 1, -r:r + 1]
        g = np.exp(-(xs * xs + ys * ys) / (2 * ((2 * r + 1) / 6) ** 2))
        t, b = min(row, r), min(out_h - row, r + 1)
        lft, rgt = min(col, r), min(out_w - col, r + 1)
        patch = heat[0, row - t:row + b, col - lft:col + rgt]
        np.maximum(patch, g[r - t:r + b, r - lft:r + rgt], out=patch)
        index[k] = row * out_w + col
        size[k] = (np.log(h), np.log(w))          # channel 0 height, 1 width (as decoded)
        offset[k] = (cy - row - 0.5, cx - col - 0.5)
        mask[k] = 1.0
    return heat, index, size, offset, mask


def ignore_map(boxes, out_h, out_w):
    """(1, H, W): 1 on the cells that the boxes cover, where the heatmap loss is left out."""
    ignore = np.zeros((1, out_h, out_w), np.float32)
    for x0, y0, x1, y1 in boxes:
        c0, r0 = max(int(np.floor(x0 / STRIDE)), 0), max(int(np.floor(y0 / STRIDE)), 0)
        c1, r1 = min(int(np.ceil(x1 / STRIDE)), out_w), min(int(np.ceil(y1 / STRIDE)), out_h)
        ignore[0, r0:r1, c0:c1] = 1.0
    return ignore


class FaceBoxDataset(torch.utils.data.Dataset):
    """Augmented training crops of photos and their CenterNet targets."""

    max_faces = 128

    def __init__(self, items, images, crop, input_size, seed, cut_faces="ignore"):
        self.items, self.images = items, images     # items: [(image path, boxes (N, 4))]
        self.crop, self.input_size, self.seed = crop, input_size, seed
        self.cut_faces = cut_faces
        self.epoch = 0

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        rng = np.random.default_rng((self.seed, self.epoch, i))
        rel, boxes = self.items[i]
        img = self.images[rel]
        h, w = img.shape[:2]
        scale = self.input_size * rng.uniform(0.5, 1.5) / max(h, w)
        img = cv2.resize(img, (max(1, round(w * scale)), max(1, round(h * scale))),
                         interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
        boxes = boxes * scale
        h, w = img.shape[:2]
        c = self.crop
        x_off = int(rng.integers(0, w - c + 1)) if w > c else -int(rng.integers(0, c - w + 1))
        y_off = int(rng.integers(0, h - c + 1)) if h > c else -int(rng.integers(0, c - h + 1))
        canvas = np.zeros((c, c, 3), np.uint8)
        sx0, sy0 = max(x_off, 0), max(y_off, 0)
        part = img[sy0:sy0 + c, sx0:sx0 + c]
        top, left = sy0 - y_off, sx0 - x_off
        canvas[top:top + part.shape[0], left:left + part.shape[1]] = part
        boxes = boxes - np.array([x_off, y_off, x_off, y_off], np.float32)
        clipped = np.clip(boxes, 0, c)
        area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
        kept_area = (clipped[:, 2] - clipped[:, 0]) * (clipped[:, 3] - clipped[:, 1])
        visible = kept_area >= 0.5 * np.maximum(area, 1e-6)
        cut = clipped[~visible & (kept_area > 0)] if self.cut_faces == "ignore" else clipped[:0]
        boxes = clipped[visible]                                     # mostly visible faces
        if rng.random() < 0.5:
            canvas = canvas[:, ::-1]
            boxes, cut = (np.stack([c - b[:, 2], b[:, 1], c - b[:, 0], b[:, 3]], 1)
                          for b in (boxes, cut))
        hsv = cv2.cvtColor(np.ascontiguousarray(canvas), cv2.COLOR_BGR2HSV).astype(np.float32)
        hsv[..., 1] *= rng.uniform(0.7, 1.3)
        hsv[..., 2] = hsv[..., 2] * rng.uniform(0.7, 1.3) + rng.uniform(-20, 20)
        canvas = cv2.cvtColor(np.clip(hsv, 0, 255).astype(np.uint8), cv2.COLOR_HSV2RGB)
        targets = make_targets(boxes, c // STRIDE, c // STRIDE, self.max_faces)
        ignore = ignore_map(cut, c // STRIDE, c // STRIDE)
        x = torch.from_numpy(np.ascontiguousarray(canvas.transpose(2, 0, 1))).float()
        return (x, *(torch.from_numpy(t) for t in (*targets, ignore)))


def focal_loss(pred, target, ignore=None):
    """CenterNet's penalty-reduced pixel-wise focal loss (alpha 2, beta 4) on probabilities;
    cells where ``ignore`` is 1 add no background loss.
    """
    pred = pred.clamp(1e-4, 1 - 1e-4)
    pos = target.eq(1).float()
    pos_loss = torch.log(pred) * (1 - pred) ** 2 * pos
    neg_loss = torch.log(1 - pred) * pred ** 2 * (1 - target) ** 4 * (1 - pos)
    if ignore is not None:
        neg_loss = neg_loss * (1 - ignore)
    return -(pos_loss.sum() + neg_loss.sum()) / pos.sum().clamp_min(1.0)


def gather(maps, index):
    """(B, C, H, W) maps at flat cell indices (B, K): (B, K, C)."""
    b, ch = maps.shape[:2]
    flat = maps.reshape(b, ch, -1)
    return flat.gather(2, index.unsqueeze(1).expand(b, ch, index.shape[1])).permute(0, 2, 1)


def losses(outputs, teacher, heat, index, size, offset, mask, ignore, landmark_weight):
    heat_p, size_p, off_p, lm_p = outputs
    m = mask.unsqueeze(2)
    n = mask.sum().clamp_min(1.0)
    parts = {"heat": focal_loss(heat_p, heat, ignore),
             "size": (torch.abs(gather(size_p, index) - size) * m).sum() / (2 * n),
             "offset": (torch.abs(gather(off_p, index) - offset) * m).sum() / (2 * n)}
    parts["landmarks"] = landmark_weight * (
        torch.abs(gather(lm_p, index) - gather(teacher[3], index)) * m).sum() / (10 * n)
    return parts


def training_items(args, samples, images, out):
    """[(image, boxes)] of the training photos."""
    if args.split:
        split = load_split(args.split)
        stems = {stem_of(p) for p in split["train"]}
        samples = [s for s in samples if stem_of(s.image) in stems]
    elif args.val_fraction > 0:
        grouped = group_near_duplicates(samples, images)
        train_groups, val_groups = split_groups(grouped, args.val_fraction, args.seed)
        save_split(os.path.join(out, "split.json"), args.data, "voc", grouped, train_groups,
                   val_groups, args.seed, args.val_fraction)
        keep = set(train_groups)
        samples = [s for s in grouped if s.group in keep]
    by_image = {}
    for s in samples:
        by_image.setdefault(s.image, []).append(s.box)
    items = [(rel, np.asarray(b, np.float32)) for rel, b in sorted(by_image.items())]
    if args.max_images:
        items = items[:args.max_images]
    if not items:
        raise DatasetError(f"{args.data}: no training photos")
    return items


def train(args):
    torch.manual_seed(args.seed)
    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available()
                          else ("cpu" if args.device == "auto" else args.device))
    out = args.out or os.path.join("runs", time.strftime("detector-%Y%m%d-%H%M%S"))
    os.makedirs(out, exist_ok=True)
    layout, samples = load_samples(args.data)
    if layout != "voc":
        raise DatasetError(f"{args.data}: train-detector needs VOC scenes with face boxes")
    images = ImageCache(args.data)
    items = training_items(args, samples, images, out)
    base = args.base or os.path.join(default_face_model_dir(), CENTERFACE_BASE_ONNX)
    # On the CPU, channels-last tensors let torch's oneDNN convolutions skip a layout change
    # at every layer: a step of 16 crops of 512 px took half the time on our 2-core CPU. Not
    # measured on a GPU, so the GPU keeps the default layout.
    memory_format = torch.channels_last if device.type == "cpu" else torch.contiguous_format
    model = load_centerface_torch(base).to(device, memory_format=memory_format).train()
    teacher = load_centerface_torch(base).to(device, memory_format=memory_format).eval()
    for p in teacher.parameters():
        p.requires_grad_(False)
    with open(os.path.join(out, "args.json"), "w") as f:
        json.dump(vars(args), f, indent=1)
    print(f"train-detector: {len(items)} photos, {sum(len(b) for _, b in items)} faces, "
          f"device {device}", flush=True)
    dataset = FaceBoxDataset(items, images, args.crop, args.input_size, args.seed, args.cut_faces)
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=args.batch_size, shuffle=True, drop_last=len(items) > args.batch_size,
        num_workers=args.workers, generator=torch.Generator().manual_seed(args.seed),
        persistent_workers=False)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=args.lr, epochs=args.epochs, steps_per_epoch=len(loader), pct_start=0.1)
    rows, t_start = [], time.time()
    for epoch in range(1, args.epochs + 1):
        dataset.epoch = epoch
        sums, steps, t0 = {}, 0, time.time()
        for batch in loader:
            x, heat, index, size, offset, mask, ignore = (t.to(device) for t in batch)
            x = x.contiguous(memory_format=memory_format)
            with torch.no_grad():
                teacher_out = teacher(x)
            parts = losses(model(x), teacher_out, heat, index, size, offset, mask, ignore,
                           args.landmark_weight)
            loss = sum(parts.values())
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
            optimizer.step()
            scheduler.step()
            for k, v in parts.items():
                sums[k] = sums.get(k, 0.0) + v.item()
            steps += 1
        row = {"epoch": epoch, **{k: v / max(steps, 1) for k, v in sums.items()},
               "seconds": round(time.time() - t0, 2)}
        rows.append(row)
        print(f"epoch {epoch:3d}/{args.epochs}  " + "  ".join(
            f"{k} {v:.4f}" for k, v in row.items() if k not in ("epoch", "seconds"))
            + f"  {row['seconds']:.1f}s", flush=True)
        if args.save_every and epoch % args.save_every == 0 and epoch < args.epochs:
            export_onnx(model, os.path.join(out, f"centerface_epoch{epoch}.onnx"))
            model.to(device, memory_format=memory_format).train()
    with open(os.path.join(out, "train_log.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]) if rows else ["epoch"])
        w.writeheader()
        w.writerows(rows)
    path = os.path.join(out, CENTERFACE_ONNX)
    if args.wise_alpha:
        export_checked(model, os.path.join(out, FINETUNED_ONNX), images[items[0][0]])
        interpolate(model, teacher, args.wise_alpha)
        print(f"averaged with the base net, weight {args.wise_alpha:g} (WiSE-FT, "
              "detector_mix.py)", flush=True)
    export_checked(model, path, images[items[0][0]])
    print(f"{(time.time() - t_start) / 60:.1f} min", flush=True)
    return path


def export_checked(model, path, image_bgr):
    """Export, then check ONNX Runtime on the file against torch on a real photo."""
    export_onnx(model, path)
    diff = parity(model, path, image_bgr)
    print(f"exported {path}; ONNX Runtime vs torch max abs difference {diff:.2e}", flush=True)
    if diff > PARITY_LIMIT:
        raise RuntimeError("the exported ONNX disagrees with torch (max abs difference "
                           f"{diff:.2e})")


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        train(args)
    except (DatasetError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0
