"""``python -m marrtino_facemask train``: train the ResNet18 mask classifier.

Writes into ``--out``: best.pt (best validation macro-F1), last.pt, split.json, metrics.csv,
curves.png, args.json, val_metrics.json and, when tensorboard is installed, TensorBoard logs.
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

from .augment import augmented_crop
from .checkpoint import (DEFAULT_INPUT_SIZE, IMAGENET_MEAN, IMAGENET_STD, ModelError,
                         build_model, save_checkpoint, stored_state)
from .classifier import DEVICES
from .classifier_torch import predict_probs, resolve_device, to_tensor_batch
from .crops import DEFAULT_MARGIN, crop_face, whole_box
from .detection_metrics import match_boxes
from .distill import EnsembleTeacher, distillation_loss
from .faces import DETECTOR_KINDS, FaceModelError, make_face_detector
from .data import (DatasetError, FaceSample, ImageCache, group_near_duplicates, load_samples,
                   load_split, save_split, split_groups, stem_of)
from .labels import CLASS_NAMES
from .metrics import classification_report, confusion_matrix, plot_training_curves
from .synth_masks import CHIN_FRACTIONS, IncorrectMaskSynth, cut_mask


def parse_args(argv):
    p = argparse.ArgumentParser(prog="python -m marrtino_facemask train", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True,
                   help="VOC scenes (images/ + annotations/) or a folder of crops with one "
                        "sub-folder per class")
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
    p.add_argument("--val-fraction", type=float, default=0.2)
    p.add_argument("--split", default=None,
                   help="reuse a saved split.json (photos matched by file stem) instead of "
                        "splitting --data with --seed and --val-fraction")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--min-train-face", type=int, default=8,
                   help="skip training faces smaller than this (px, shorter side)")
    p.add_argument("--eval-min-face", type=int, default=24,
                   help="validation faces at least this big (px, shorter side) choose the best "
                        "epoch (evaluate sizes faces by the longer side)")
    p.add_argument("--detector-crops", default="none",
                   choices=("none",) + DETECTOR_KINDS,
                   help="VOC scenes: also cut training faces from this face detector's boxes "
                        "(matched to the labels by IoU), as the node cuts them; none (default, "
                        "the shipped model's recipe): labelled boxes only")
    p.add_argument("--detector-confidence", type=float, default=0.1,
                   help="lowest face score of a detector box used for training crops")
    p.add_argument("--synth-incorrect", type=float, default=0.0, metavar="RATIO",
                   help="VOC scenes: also train on synthetic mask_weared_incorrect faces (a "
                        "with_mask face's mask pasted below the nose of a without_mask face, "
                        "placed by CenterFace's landmarks), drawn RATIO times as often as the "
                        "real ones; 0 (default): none")
    p.add_argument("--synth-placement", choices=tuple(CHIN_FRACTIONS), default="mixed",
                   help="where the synthetic masks sit: mixed (3 in 4 between the nose tip and "
                        "the mouth, 1 in 4 on the chin), chin or below-nose only")
    p.add_argument("--camera-augment", type=float, default=0.0, metavar="P",
                   help="probability that a training crop is degraded as a robot's camera "
                        "might (motion blur, defocus, dark frame with noise, sensor noise or "
                        "JPEG; augment.camera_degraded), and grey-scale one crop in four "
                        "instead of one in ten; 0 (default): the shipped model's recipe")
    p.add_argument("--pretrained", default=None,
                   help="FILE with a torchvision ResNet18 state_dict, or 'imagenet' to download "
                        "torchvision's weights (needs a network); default: from scratch")
    p.add_argument("--teachers", nargs="+", default=None, metavar="PT",
                   help="distil from these trained classifiers (.pt, same input size and "
                        "margin): the student also learns their averaged probabilities at "
                        "--distill-temperature (marrtino_facemask.distill); default: labels only")
    p.add_argument("--distill-weight", type=float, default=0.5,
                   help="weight of the teachers' term in the loss, 0 to 1 (the labels' term "
                        "gets 1 minus it)")
    p.add_argument("--distill-temperature", type=float, default=2.0,
                   help="softmax temperature of the teachers' and the student's outputs in "
                        "the distillation term")
    p.add_argument("--device", default="auto", choices=DEVICES)
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = default)")
    p.add_argument("--workers", type=int, default=0,
                   help="data-loading processes (0, the default and the shipped model's "
                        "recipe: crops are cut in the training process; more feed a GPU)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = p.parse_args(argv)
    if not 0.0 <= args.camera_augment <= 1.0:
        p.error(f"--camera-augment must be a probability from 0 to 1, not {args.camera_augment}")
    if not 0.0 <= args.distill_weight <= 1.0:
        p.error(f"--distill-weight must be from 0 to 1, not {args.distill_weight}")
    if not args.distill_temperature > 0:
        p.error(f"--distill-temperature must be > 0, not {args.distill_temperature}")
    if args.workers < 0:
        p.error(f"--workers must be 0 or more, not {args.workers}")
    return args


class CropDataset(torch.utils.data.Dataset):
    """Augmented training crops. A face that the detector found is cut, half of the time, from
    the detector's own box (slightly jittered), so that training sees what the node sees;
    otherwise from its labelled box with detector-like jitter."""

    def __init__(self, samples, images, size, margin, seed, detected=None, synth=None,
                 camera=0.0):
        self.samples, self.images, self.size, self.margin = samples, images, size, margin
        self.camera = camera   # augment.augmented_crop's probability of a camera degradation
        self.detected = detected or {}
        self.synth = synth   # IncorrectMaskSynth: items past the real samples
        self.rng = np.random.default_rng(seed)

    def __len__(self):
        return len(self.samples) + (len(self.synth) if self.synth else 0)

    def __getitem__(self, i):
        if i >= len(self.samples):
            region, box = self.synth.sample(i - len(self.samples), self.images, self.rng)
            return (augmented_crop(region, box, self.size, self.margin, self.rng,
                                   camera=self.camera),
                    CLASS_NAMES.index("mask_weared_incorrect"))
        s = self.samples[i]
        det = self.detected.get(s)
        if det is not None and self.rng.random() < 0.5:
            return augmented_crop(self.images[s.image], det, self.size, self.margin, self.rng,
                                  scale=(0.95, 1.05), shift=0.03, camera=self.camera), s.label
        return augmented_crop(self.images[s.image], s.box, self.size, self.margin, self.rng,
                              camera=self.camera), s.label


def seed_worker(worker_id):
    """Give each data-loading process its own augmentation stream. Each worker holds a copy of
    the dataset, and so of its generator: without this, they would all cut the same crops.
    torch seeds every worker differently, from the run's seed, at each epoch."""
    info = torch.utils.data.get_worker_info()
    info.dataset.rng = np.random.default_rng(torch.initial_seed() % 2 ** 63)


def collate(mean, std):
    def fn(batch):
        crops, labels = zip(*batch)
        return to_tensor_batch(crops, mean, std), torch.tensor(labels, dtype=torch.long)
    return fn


def plain_crops(samples, images, size, margin):
    """Validation crops, cut exactly as the node cuts them."""
    return [crop_face(images[s.image], s.box or whole_box(images[s.image]), size, margin)
            for s in samples]


def load_pretrained(model, spec):
    """Load ImageNet (or user) ResNet18 weights into everything but the classifier head."""
    if spec == "imagenet":
        import torchvision
        try:
            state = torchvision.models.ResNet18_Weights.IMAGENET1K_V1.get_state_dict(progress=False)
        except Exception as exc:  # noqa: BLE001 - URLError, OSError, HTTP errors...
            raise SystemExit(
                "error: cannot download torchvision's ImageNet ResNet18 weights (no network?): "
                f"{str(exc).splitlines()[0][:120]}. Download resnet18-f37072fd.pth elsewhere and "
                "pass --pretrained FILE, or train from scratch without --pretrained") from None
    else:
        if not os.path.isfile(spec):
            raise SystemExit(f"error: --pretrained file '{spec}' not found: pass a torchvision "
                             "ResNet18 state_dict (.pth) or 'imagenet'")
        try:
            state = torch.load(spec, map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001
            raise SystemExit(f"error: cannot read --pretrained file '{spec}': "
                             f"{str(exc).splitlines()[0][:120]}") from None
        if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
            state = state["state_dict"]
    state = {k: v for k, v in state.items() if not k.startswith("fc.")}
    missing, unexpected = model.load_state_dict(state, strict=False)
    if unexpected or [k for k in missing if not k.startswith("fc.")]:
        raise SystemExit(f"error: --pretrained weights do not fit torchvision's ResNet18 "
                         f"(missing {len(missing)}, unexpected {len(unexpected)} keys)")


def make_sampler(labels, balance, generator, synth_count=0, synth_ratio=0.0):
    """Class-balanced sampling of the real faces (``labels``), one epoch = as many draws as
    real faces. ``synth_count`` synthetic mask_weared_incorrect items (indexed after the real
    ones) share ``synth_ratio`` times the real mask_weared_incorrect faces' sampling weight."""
    counts = Counter(labels)
    power = {"none": 0.0, "sqrt": 0.5, "full": 1.0}[balance]
    weights = [counts[y] ** -power for y in labels]
    if synth_count:
        incorrect = CLASS_NAMES.index("mask_weared_incorrect")
        mass = synth_ratio * sum(w for w, y in zip(weights, labels) if y == incorrect)
        weights += [mass / synth_count] * synth_count
    return torch.utils.data.WeightedRandomSampler(torch.tensor(weights, dtype=torch.double),
                                                  num_samples=len(labels), replacement=True,
                                                  generator=generator)


def predict(model, crops, mean, std, device):
    probs = predict_probs(model, crops, mean, std, device)
    return torch.from_numpy(probs) if probs is not None else torch.zeros((0, len(CLASS_NAMES)))


def detected_faces(samples, images, kind, confidence):
    """{sample: the face detector's Face for it}: the detector runs on every photo (the node's
    input size, no size filter) and its boxes are matched one-to-one to the labelled boxes at
    IoU >= 0.3. Faces the detector misses get none."""
    detector = make_face_detector(kind, confidence, 1)
    by_image, found = {}, {}
    for s in samples:
        by_image.setdefault(s.image, []).append(s)
    for rel, faces in sorted(by_image.items()):
        dets = detector.detect(images[rel])
        for gi, di in match_boxes([f.box for f in faces], [d.box for d in dets], 0.3).items():
            found[faces[gi]] = dets[di]
    return found


def incorrect_mask_synth(samples, images, found, placement="mixed"):
    """The synthetic mask_weared_incorrect maker for these training faces: masks cut from the
    with_mask faces, pasted on the without_mask faces (both need landmarks in ``found``)."""
    with_mask, without = CLASS_NAMES.index("with_mask"), CLASS_NAMES.index("without_mask")
    sources = [cut_mask(images[s.image], s.box, found[s].landmarks)
               for s in samples if s.label == with_mask and s in found and s.box is not None]
    targets = [(s.image, s.box, found[s].landmarks)
               for s in samples if s.label == without and s in found and s.box is not None]
    return IncorrectMaskSynth(targets, [p for p in sources if p is not None],
                              CHIN_FRACTIONS[placement])


def _tensorboard(out):
    try:
        from torch.utils.tensorboard import SummaryWriter
        return SummaryWriter(os.path.join(out, "tensorboard"))
    except Exception:  # noqa: BLE001 - tensorboard not installed
        return None


def train(args, command=None):
    torch.manual_seed(args.seed)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    out = args.out or os.path.join("runs", time.strftime("train-%Y%m%d-%H%M%S"))
    os.makedirs(out, exist_ok=True)

    layout, samples = load_samples(args.data)
    images = ImageCache(args.data)
    margin = args.margin if args.margin is not None else (DEFAULT_MARGIN if layout == "voc" else 0.0)
    if args.split:
        # the photos' sides come from a saved split, matched by file stem (so that a copy of
        # the dataset in another image format gets the same split)
        split = load_split(args.split)
        side = {stem_of(p): name for name in ("train", "val") for p in split[name]}
        samples = [FaceSample(s.image, s.box, s.label, side.get(stem_of(s.image), "unused"))
                   for s in samples]
        train_groups, val_groups = ["train"], ["val"]
        samples = [s for s in samples if s.group != "unused"]
        with open(os.path.join(out, "split.json"), "w") as f:
            json.dump(split, f, indent=1)
    else:
        samples = group_near_duplicates(samples, images)
        train_groups, val_groups = split_groups(samples, args.val_fraction, args.seed)
        save_split(os.path.join(out, "split.json"), args.data, layout, samples, train_groups,
                   val_groups, args.seed, args.val_fraction)
    val_set = set(val_groups)
    train_samples = [s for s in samples if s.group not in val_set
                     and s.min_side(images[s.image].shape) >= args.min_train_face]
    val_samples = [s for s in samples if s.group in val_set]
    if not train_samples or not val_samples:
        raise DatasetError(f"{args.data}: too few photos for a train/validation split")
    val_big = np.array([s.min_side(images[s.image].shape) >= args.eval_min_face for s in val_samples])
    detected, synth = {}, None
    if layout == "voc" and args.detector_crops != "none":
        found = detected_faces(train_samples, images, args.detector_crops,
                               args.detector_confidence)
        detected = {s: f.box for s, f in found.items()}
        print(f"detector crops: {args.detector_crops} found {len(detected)} of "
              f"{len(train_samples)} training faces", flush=True)
    if args.synth_incorrect > 0:
        if layout != "voc":
            raise DatasetError("--synth-incorrect needs VOC scenes (the landmarks come from "
                               "running CenterFace on the photos)")
        landmarked = detected_faces(train_samples, images, "centerface", args.detector_confidence)
        synth = incorrect_mask_synth(train_samples, images, landmarked, args.synth_placement)
        print(f"synthetic mask_weared_incorrect: {len(synth.sources)} masks x "
              f"{len(synth.targets)} bare faces, ratio {args.synth_incorrect:g}, placement "
              f"{args.synth_placement}", flush=True)
    val_labels = torch.tensor([s.label for s in val_samples])
    print(f"data: {layout} {args.data}: {len(samples)} faces; train {len(train_samples)} "
          f"{dict(sorted(Counter(CLASS_NAMES[s.label] for s in train_samples).items()))}; "
          f"val {len(val_samples)} ({int(val_big.sum())} >= {args.eval_min_face} px)", flush=True)

    mean, std = IMAGENET_MEAN, IMAGENET_STD
    val_crops = plain_crops(val_samples, images, args.input_size, margin)
    generator = torch.Generator().manual_seed(args.seed)
    loader = torch.utils.data.DataLoader(
        CropDataset(train_samples, images, args.input_size, margin, args.seed, detected, synth,
                    args.camera_augment),
        batch_size=args.batch_size, drop_last=len(train_samples) > args.batch_size,
        sampler=make_sampler([s.label for s in train_samples], args.balance, generator,
                             len(synth) if synth else 0, args.synth_incorrect),
        collate_fn=collate(mean, std), num_workers=args.workers,
        persistent_workers=args.workers > 0, worker_init_fn=seed_worker if args.workers else None)

    model = build_model(len(CLASS_NAMES))
    if args.pretrained:
        load_pretrained(model, args.pretrained)
    model.to(device)
    stored = copy.deepcopy(model)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=args.lr, epochs=args.epochs, steps_per_epoch=len(loader), pct_start=0.15)
    criterion = nn.CrossEntropyLoss(label_smoothing=args.label_smoothing)
    teacher = None
    if args.teachers:
        teacher = EnsembleTeacher(args.teachers, args.input_size, margin, mean, std).to(device)
        print(f"distillation: {len(args.teachers)} teachers, weight {args.distill_weight:g}, "
              f"temperature {args.distill_temperature:g}", flush=True)
    writer = _tensorboard(out)
    try:
        from tqdm import tqdm
    except ImportError:  # pragma: no cover
        def tqdm(x, **_):
            return x

    meta = {"command": command or "",
            "args": vars(args), "dataset_layout": layout,
            "train_faces": len(train_samples), "val_faces": len(val_samples),
            "device": str(device), "torch": str(torch.__version__),
            "started": time.strftime("%Y-%m-%d %H:%M:%S")}
    with open(os.path.join(out, "args.json"), "w") as f:
        json.dump(vars(args), f, indent=1)
    rows, best_f1, best_report = [], -1.0, None
    fields = ["epoch", "lr", "train_loss", "train_acc", "val_loss", "val_acc", "val_macro_f1",
              "val_macro_recall", "val_all_acc", "val_all_macro_f1", "seconds"]
    t_start = time.time()
    for epoch in range(1, args.epochs + 1):
        t0 = time.time()
        model.train()
        total, correct, loss_sum = 0, 0, 0.0
        bar = tqdm(loader, desc=f"epoch {epoch}/{args.epochs}", leave=False,
                   disable=args.no_progress, file=sys.stdout)
        for x, y in bar:
            x, y = x.to(device), y.to(device)
            logits = model(x)
            loss = criterion(logits, y)
            if teacher is not None:
                soft = teacher(x, args.distill_temperature)
                loss = ((1 - args.distill_weight) * loss + args.distill_weight
                        * distillation_loss(logits, soft, args.distill_temperature))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            loss_sum += loss.item() * len(y)
            correct += (logits.argmax(1) == y).sum().item()
            total += len(y)
            if hasattr(bar, "set_postfix"):
                bar.set_postfix(loss=f"{loss_sum / total:.3f}", acc=f"{correct / total:.3f}")
        # score the weights exactly as the checkpoint stores them (float16), so that
        # `evaluate` on the saved split reproduces these numbers
        stored.load_state_dict(stored_state(model))
        probs = predict(stored, val_crops, mean, std, device)
        pred = probs.argmax(1)
        val_loss = nn.functional.nll_loss(torch.log(probs[val_big].clamp_min(1e-8)),
                                          val_labels[val_big]).item()
        big = classification_report(confusion_matrix(val_labels[val_big], pred[val_big],
                                                     len(CLASS_NAMES)), CLASS_NAMES)
        every = classification_report(confusion_matrix(val_labels, pred, len(CLASS_NAMES)), CLASS_NAMES)
        row = {"epoch": epoch, "lr": scheduler.get_last_lr()[0], "train_loss": loss_sum / total,
               "train_acc": correct / total, "val_loss": val_loss, "val_acc": big["accuracy"],
               "val_macro_f1": big["macro_f1"], "val_macro_recall": big["macro_recall"],
               "val_all_acc": every["accuracy"], "val_all_macro_f1": every["macro_f1"],
               "seconds": time.time() - t0}
        rows.append(row)
        with open(os.path.join(out, "metrics.csv"), "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=fields)
            w.writeheader()
            w.writerows({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in r.items()}
                        for r in rows)
        if writer is not None:
            for k, v in row.items():
                if k != "epoch":
                    writer.add_scalar(k, v, epoch)
        improved = big["macro_f1"] > best_f1
        ckpt_meta = dict(meta, epoch=epoch, val_min_face=args.eval_min_face,
                         val_accuracy=big["accuracy"], val_macro_f1=big["macro_f1"],
                         val_macro_recall=big["macro_recall"],
                         train_seconds=round(time.time() - t_start, 1))
        save_kwargs = dict(input_size=args.input_size, margin=margin, mean=mean, std=std)
        if improved:
            best_f1, best_report = big["macro_f1"], big
            save_checkpoint(os.path.join(out, "best.pt"), model, meta=ckpt_meta, **save_kwargs)
        print(f"epoch {epoch:3d}/{args.epochs}  loss {row['train_loss']:.3f}  "
              f"train acc {row['train_acc']:.3f}  val(>= {args.eval_min_face}px) acc "
              f"{big['accuracy']:.3f} macro-F1 {big['macro_f1']:.3f} recall "
              f"{big['macro_recall']:.3f}  {row['seconds']:.0f}s{'  *best*' if improved else ''}",
              flush=True)
    save_checkpoint(os.path.join(out, "last.pt"), model, meta=ckpt_meta, **save_kwargs)
    if writer is not None:
        writer.close()
    plot_training_curves(rows, os.path.join(out, "curves.png"))
    elapsed = time.time() - t_start
    with open(os.path.join(out, "val_metrics.json"), "w") as f:
        json.dump({"best_epoch_metrics": best_report, "train_seconds": round(elapsed, 1)}, f, indent=1)
    print(f"done in {elapsed / 60:.1f} min: best val macro-F1 {best_f1:.3f}; "
          f"checkpoint {os.path.join(out, 'best.pt')}", flush=True)
    return out


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv)
    try:
        train(args, command=" ".join(["python -m marrtino_facemask train", *argv]))
    except (DatasetError, FaceModelError, ModelError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0
