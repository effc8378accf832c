"""``python -m marrtino_facemask train``: train the ResNet18 mask classifier.

Three ways to run it, all on one or more datasets (``--data A B``):

- a train/validation split of the photos (the default; ``--split`` reuses a saved one);
- ``--val-fraction 0``: every photo is trained on (how the shipped model is made, with the
  schedule that cross-validation fixed);
- ``--folds K``: K-fold cross-validation (folds.py). Fold k's model is trained on the other
  folds' photos, then scored end to end on fold k's (crossval.py); the folds' table is
  printed at the end and written to ``cv_metrics.json``.

The model is the last epoch's (``last.pt``): no epoch is picked on the photos it is scored
on. The run folder also holds args.json, metrics.csv, curves.png and split.json or
folds.json.
"""

import argparse
import copy
import csv
import json
import os
import sys
import time
from collections import Counter

import numpy as np
import torch
from torch import nn

from ..crops import DEFAULT_MARGIN
from ..faces import FaceModelError
from ..labels import CLASS_NAMES
from .checkpoint import (
    DEFAULT_INPUT_SIZE,
    IMAGENET_MEAN,
    IMAGENET_STD,
    ModelError,
    build_model,
    save_checkpoint,
    stored_state,
)
from .classifier_torch import DEVICES, predict_probs, resolve_device, to_tensor_batch
from .crop_dataset import (
    CropDataset,
    make_sampler,
    plain_crop,
    seed_worker,
)
from .crossval import run_folds
from .data import (
    DatasetError,
    FaceSample,
    ImageCache,
    group_near_duplicates,
    load_datasets,
    load_split,
    save_split,
    split_groups,
    stem_of,
)
from .detections import detector_matches
from .metrics import classification_report, confusion_matrix, plot_training_curves


def parse_args(argv):
    p = argparse.ArgumentParser(prog="python -m marrtino_facemask train", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, nargs="+",
                   help="one or more datasets of one layout: VOC scenes (images/ + "
                        "annotations/) or folders of crops with one sub-folder per class")
    p.add_argument("--out", default=None, help="run folder (default runs/train-<time>)")
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=2e-3, help="peak AdamW learning rate")
    p.add_argument("--weight-decay", type=float, default=0.05)
    p.add_argument("--label-smoothing", type=float, default=0.1)
    p.add_argument("--input-size", type=int, default=DEFAULT_INPUT_SIZE)
    p.add_argument("--margin", type=float, default=None,
                   help=f"crop margin (default {DEFAULT_MARGIN} for VOC scenes, 0 for crops)")
    p.add_argument("--balance", choices=("none", "sqrt", "full"), default="sqrt",
                   help="class-balanced sampling: per-class weight 1, 1/sqrt(n) or 1/n")
    p.add_argument("--val-fraction", type=float, default=0.2,
                   help="share of the photos held out for validation; 0: train on all")
    p.add_argument("--split", default=None,
                   help="reuse a saved split.json (photos matched by file stem) instead of "
                        "splitting --data with --seed and --val-fraction")
    p.add_argument("--folds", type=int, default=0, metavar="K",
                   help="K-fold cross-validation instead of one split (see above)")
    p.add_argument("--folds-file", default=None,
                   help="with --folds: reuse this folds.json (default: made with --seed)")
    p.add_argument("--only-folds", type=int, nargs="+", default=None, metavar="I",
                   help="with --folds: train only these folds (0-based; default all)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--min-train-face", type=int, default=8,
                   help="skip training faces smaller than this (px, shorter side)")
    p.add_argument("--eval-min-face", type=int, default=24,
                   help="validation metrics use faces at least this big (px, longer side)")
    p.add_argument("--align", action="store_true",
                   help="VOC scenes: cut the faces that the detector finds aligned on its five "
                        "landmarks (crops.crop_aligned), training and scoring alike")
    p.add_argument("--amp", action="store_true",
                   help="bfloat16 autocast (about twice as fast on CPUs with AVX-512 BF16 or "
                        "AMX, and on GPUs)")
    p.add_argument("--device", default="auto", choices=DEVICES)
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = default)")
    p.add_argument("--workers", type=int, default=0,
                   help="data-loading processes (0: crops are cut in the training process)")
    p.add_argument("--no-progress", action="store_true", help="no per-epoch lines")
    args = p.parse_args(argv)
    if args.workers < 0:
        p.error(f"--workers must be 0 or more, not {args.workers}")
    if not 0.0 <= args.val_fraction < 1.0:
        p.error(f"--val-fraction must be from 0 to below 1, not {args.val_fraction}")
    if args.folds == 1 or args.folds < 0:
        p.error(f"--folds must be 2 or more, not {args.folds}")
    return args


def collate(mean, std):
    def fn(batch):
        crops, labels = zip(*batch)
        return to_tensor_batch(crops, mean, std), torch.tensor(labels, dtype=torch.long)
    return fn


def fit(train_samples, images, args, margin, out, matches=None, val=None, log=print):
    """Train a ResNet18 on ``train_samples`` with the recipe in ``args``; write last.pt and
    metrics.csv into ``out``. ``val``: (samples, crops) scored after each epoch, or None.
    Returns the trained model (float32, as last.pt stores it).
    """
    torch.manual_seed(args.seed)
    device = resolve_device(args.device)
    matches = matches or {}
    mean, std = IMAGENET_MEAN, IMAGENET_STD
    generator = torch.Generator().manual_seed(args.seed)
    sampler = make_sampler([s.label for s in train_samples], args.balance, generator)
    loader = torch.utils.data.DataLoader(
        CropDataset(train_samples, images, args.input_size, margin, args.seed, matches,
                    args.align),
        batch_size=args.batch_size, drop_last=len(train_samples) > args.batch_size,
        sampler=sampler, collate_fn=collate(mean, std), num_workers=args.workers,
        persistent_workers=args.workers > 0, worker_init_fn=seed_worker if args.workers else None)
    # channels-last is what the CPU's and the GPU's convolution kernels run fastest
    model = build_model(len(CLASS_NAMES)).to(device, memory_format=torch.channels_last)
    stored = copy.deepcopy(model)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=args.lr, epochs=args.epochs, steps_per_epoch=len(loader), pct_start=0.15)
    criterion = nn.CrossEntropyLoss(label_smoothing=args.label_smoothing)
    amp = dict(device_type=device.type, dtype=torch.bfloat16, enabled=args.amp)
    meta = {"command": args.command, "args": vars(args), "train_faces": len(train_samples),
            "device": str(device), "torch": str(torch.__version__),
            "started": time.strftime("%Y-%m-%d %H:%M:%S")}
    rows, t_start = [], time.time()
    for epoch in range(1, args.epochs + 1):
        t0 = time.time()
        model.train()
        total, correct, loss_sum = 0, 0, 0.0
        for x, y in loader:
            x, y = x.to(device, memory_format=torch.channels_last), y.to(device)
            with torch.autocast(**amp):
                logits = model(x)
            logits = logits.float()
            loss = criterion(logits, y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            loss_sum += loss.item() * len(y)
            correct += (logits.argmax(1) == y).sum().item()
            total += len(y)
        row = {"epoch": epoch, "lr": scheduler.get_last_lr()[0], "train_loss": loss_sum / total,
               "train_acc": correct / total}
        if val is not None:
            # scored exactly as the checkpoint stores the weights (float16)
            stored.load_state_dict(stored_state(model))
            row.update(validation_row(stored, val, mean, std, device, args.eval_min_face))
        row["seconds"] = time.time() - t0
        rows.append(row)
        write_csv(os.path.join(out, "metrics.csv"), rows)
        if not args.no_progress:
            log(f"epoch {epoch:3d}/{args.epochs}  loss {row['train_loss']:.3f}  train acc "
                f"{row['train_acc']:.3f}" + (f"  val acc {row['val_acc']:.3f} macro recall "
                                             f"{row['val_macro_recall']:.3f}" if val else "")
                + f"  {row['seconds']:.0f}s")
    meta.update(epoch=args.epochs, train_seconds=round(time.time() - t_start, 1))
    save_checkpoint(os.path.join(out, "last.pt"), model, input_size=args.input_size,
                    margin=margin, mean=mean, std=std, meta=meta)
    plot_training_curves(rows, os.path.join(out, "curves.png"))
    stored.load_state_dict(stored_state(model))
    return stored.eval(), rows


def validation_row(model, val, mean, std, device, min_face):
    samples, crops, big = val
    probs = torch.from_numpy(predict_probs(model, crops, mean, std, device))
    labels = torch.tensor([s.label for s in samples])
    pred = probs.argmax(1)
    report = classification_report(confusion_matrix(labels[big], pred[big], len(CLASS_NAMES)),
                                   CLASS_NAMES)
    loss = nn.functional.nll_loss(torch.log(probs[big].clamp_min(1e-8)), labels[big]).item()
    return {"val_loss": loss, "val_acc": report["accuracy"], "val_macro_f1": report["macro_f1"],
            "val_macro_recall": report["macro_recall"], "report": report}


def write_csv(path, rows):
    fields = [k for k in rows[0] if k != "report"]
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
        w.writeheader()
        w.writerows({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in r.items()}
                    for r in rows)


def split_samples(args, samples, images, layout, out):
    """(train samples, validation samples) of a single run, and the split saved in out."""
    if args.split:
        split = load_split(args.split)
        side = {stem_of(p): name for name in ("train", "val") for p in split[name]}
        samples = [FaceSample(s.image, s.box, s.label, side.get(stem_of(s.image), "unused"),
                              s.source) for s in samples]
        with open(os.path.join(out, "split.json"), "w") as f:
            json.dump(split, f, indent=1)
        return ([s for s in samples if s.group == "train"],
                [s for s in samples if s.group == "val"])
    if args.val_fraction == 0:
        train_groups, val_groups = sorted({s.group for s in samples}), []
    else:
        train_groups, val_groups = split_groups(samples, args.val_fraction, args.seed)
    save_split(os.path.join(out, "split.json"), args.data, layout, samples,
               train_groups, val_groups, args.seed, args.val_fraction)
    held = set(val_groups)
    return ([s for s in samples if s.group not in held], [s for s in samples if s.group in held])


def load_data(args):
    layout, samples = load_datasets(args.data)
    images = ImageCache(args.data[0] if len(args.data) == 1 else "")
    if len(args.data) == 1 and not args.split and not args.folds_file:
        samples = group_near_duplicates(samples, images)
    return layout, samples, images


def train(args):
    out = args.out or os.path.join("runs", time.strftime("train-%Y%m%d-%H%M%S"))
    os.makedirs(out, exist_ok=True)
    if args.threads:
        torch.set_num_threads(args.threads)
    layout, samples, images = load_data(args)
    if layout != "voc" and (args.align or args.folds):
        raise DatasetError("--align and --folds need VOC scenes (they use the detector's boxes "
                           "on the photos)")
    margin = args.margin
    if margin is None:
        margin = DEFAULT_MARGIN if layout == "voc" else 0.0
    with open(os.path.join(out, "args.json"), "w") as f:
        json.dump(vars(args), f, indent=1)
    if args.folds:
        return run_folds(args, samples, images, margin, out, fit)
    train_samples, val_samples = split_samples(args, samples, images, layout, out)
    train_samples = [s for s in train_samples
                     if s.min_side(images[s.image].shape) >= args.min_train_face]
    if not train_samples or (args.val_fraction > 0 and not val_samples):
        raise DatasetError(f"{', '.join(args.data)}: too few photos for a train/validation split")
    classes = dict(sorted(Counter(CLASS_NAMES[s.label] for s in train_samples).items()))
    print(f"data: {layout} {', '.join(args.data)}: {len(samples)} faces; train "
          f"{len(train_samples)} {classes}; val {len(val_samples)}", flush=True)
    matches = detector_matches(train_samples + val_samples, images) if args.align else {}
    val = None
    if val_samples:
        crops = [plain_crop(images[s.image], s, args.input_size, margin,
                            matches.get(s) if args.align else None, args.align)
                 for s in val_samples]
        big = np.array([s.max_side(images[s.image].shape) >= args.eval_min_face
                        for s in val_samples])
        val = (val_samples, crops, big)
    t0 = time.time()
    _, rows = fit(train_samples, images, args, margin, out, matches, val,
                  log=lambda text: print(text, flush=True))
    if val is not None:
        with open(os.path.join(out, "val_metrics.json"), "w") as f:
            json.dump({"last_epoch_metrics": rows[-1]["report"],
                       "train_seconds": round(time.time() - t0, 1)}, f, indent=1)
    print(f"done in {(time.time() - t0) / 60:.1f} min: {os.path.join(out, 'last.pt')}", flush=True)
    return out


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv)
    args.command = " ".join(["python -m marrtino_facemask train", *argv])
    try:
        train(args)
    except (DatasetError, FaceModelError, ModelError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0
