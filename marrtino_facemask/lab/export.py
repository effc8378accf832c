"""``python -m marrtino_facemask export``: the classifier checkpoint (.pt) as ONNX.

Writes MODEL.onnx next to MODEL.pt (or ``--out``): the ResNet18 with its softmax, any batch
size, and in its ``metadata_props`` the class names, input size, crop margin, mean and std,
the training metadata and the sha256 of the .pt it came from. The node runs it without torch,
on ONNX Runtime or OpenVINO; by default it runs its int8 copy, MODEL_int8.onnx (``quantize``).

Before the file is written, ONNX Runtime and torch classify the same real face crops: from the
validation side of the checkpoint's split when the dataset is here, else the astronaut of
scikit-image. The largest difference of their probabilities is printed; above 1e-4 the export
fails and writes nothing.
"""

import argparse
import os
import sys
import warnings

import numpy as np

from ..classifier import to_input_batch
from ..classifier_onnx import INPUT_NAME, OUTPUT_NAME, OnnxRuntimeNet, metadata_props, sha256_of
from ..paths import default_dataset_dir
from .checkpoint import ModelError, default_checkpoint_path, load_checkpoint, model_from_checkpoint
from .data import DatasetError
from .real_samples import astronaut_face_crops, dataset_face_crops, split_side

PARITY_LIMIT = 1e-4
OPSET = 17
PARITY_CROPS = 256


def parse_args(argv):
    p = argparse.ArgumentParser(prog="python -m marrtino_facemask export", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=None, help="checkpoint .pt (default: the shipped "
                                                 "model's, models/facemask_resnet18.pt)")
    p.add_argument("--out", default=None, help="ONNX file (default: the checkpoint's path "
                                               "with .onnx)")
    p.add_argument("--data", default=None,
                   help="face_mask_scenes for the parity crops (default: $FACE_MASK_SCENES or "
                        "../shared/data/face_mask_scenes when present, else the astronaut)")
    p.add_argument("--split", default=None, help="split.json: its validation faces (default: "
                                                 "the split recorded in the checkpoint)")
    p.add_argument("--crops", type=int, default=PARITY_CROPS,
                   help="real face crops compared (seeded choice)")
    p.add_argument("--opset", type=int, default=OPSET)
    return p.parse_args(argv)


def store_float16(model, min_size=16):
    """Store each float32 initializer that float16 holds exactly as float16, followed by a
    Cast back to float32.

    The checkpoint's weights are float16 already, so the file is half the size with the same
    numbers; ONNX Runtime folds the Casts when it loads the model and computes in float32.
    Written here because onnxconverter-common's float16 conversion moves the computation
    itself to float16 (slower on CPUs, and not exact).
    """
    from onnx import TensorProto, helper, numpy_helper
    graph = model.graph
    casts = []
    for init in graph.initializer:
        if init.data_type != TensorProto.FLOAT:
            continue
        weights = numpy_helper.to_array(init)
        half = weights.astype(np.float16)
        if weights.size < min_size or not np.array_equal(half.astype(np.float32), weights):
            continue
        name = init.name
        init.CopyFrom(numpy_helper.from_array(half, f"{name}__fp16"))
        casts.append(helper.make_node("Cast", [f"{name}__fp16"], [name], to=TensorProto.FLOAT,
                                      name=f"{name}__to_fp32"))
    nodes = casts + list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes)
    return len(casts)


def set_metadata(model, props):
    del model.metadata_props[:]
    for key, value in props.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value


def export_onnx(ckpt_path, out_path, opset=OPSET):
    """Write the checkpoint as ONNX to ``out_path`` (atomically); returns the checkpoint."""
    # torch and onnx are imported here, so that without them `export` fails in one line
    import onnx
    import torch
    ckpt = load_checkpoint(ckpt_path)
    net = torch.nn.Sequential(model_from_checkpoint(ckpt, ckpt_path), torch.nn.Softmax(dim=1))
    net.eval()
    size = int(ckpt["input_size"])
    os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
    tmp = f"{out_path}.tmp"
    # TrainingMode.PRESERVE (the model is in eval mode), no constant folding: batch norms stay
    # separate ops with their float16-exact parameters; ONNX Runtime folds and fuses them
    # into the convolutions when it loads the model.
    # The TorchScript exporter (dynamo=False), as train-detector uses: the newer one needs
    # onnxscript, which nothing else here needs. Its deprecation notices are not the user's.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(net, torch.zeros(1, 3, size, size), tmp, input_names=[INPUT_NAME],
                          output_names=[OUTPUT_NAME], opset_version=opset, dynamo=False,
                          training=torch.onnx.TrainingMode.PRESERVE, do_constant_folding=False,
                          dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}})
    model = onnx.load(tmp)
    store_float16(model)
    set_metadata(model, metadata_props(
        ckpt, sha256_of(ckpt_path), os.path.basename(ckpt_path), precision="float32",
        exported_with=f"torch {torch.__version__}, onnx opset {opset}"))
    onnx.checker.check_model(model)
    onnx.save(model, tmp)
    return ckpt, tmp


def parity_crops(ckpt, data, split, count):
    """(crops, description) of real faces for the parity check."""
    size, margin = int(ckpt["input_size"]), float(ckpt["crop_margin"])
    if data or split:
        try:
            root, samples = split_side(data, split, "val", ckpt.get("meta", {}).get("args", {}))
            side = "the validation side of its split"
        except DatasetError:   # no split recorded (not trained by `train`), or no val side
            if split:          # trained on every photo (--val-fraction 0): its training side
                root, samples = split_side(data, split, "train", {})
                side = "the training side of its split (it has no validation side)"
            else:
                root, samples = split_side(data, None, "all", {})
                side = "all photos (the checkpoint records no validation side)"
        crops = dataset_face_crops(root, samples, size, margin, count)
        where = root or ", ".join(sorted({s.source for s in samples}))   # "": several sets
        return crops, f"{len(crops)} face crops of {where}, {side}"
    crops = astronaut_face_crops(size, margin, count)
    return crops, f"{len(crops)} crops of the astronaut (scikit-image; no dataset here)"


def max_difference(ckpt_path, onnx_path, crops):
    """Largest |p_onnxruntime - p_torch| over ``crops``."""
    from .classifier_torch import TorchNet  # imports torch: see export_onnx
    torch_net, ort_net = TorchNet(ckpt_path, "cpu"), OnnxRuntimeNet(onnx_path)
    batch = to_input_batch(crops, torch_net.mean, torch_net.std)
    return float(np.abs(ort_net.probabilities(batch) - torch_net.probabilities(batch)).max())


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    model_path = args.model or default_checkpoint_path()
    out = args.out or os.path.splitext(model_path)[0] + ".onnx"
    tmp = None
    try:
        ckpt, tmp = export_onnx(model_path, out, args.opset)
        # a split names its own datasets; else the dataset given, or the default one here
        data = args.data or (None if args.split else default_dataset_dir())
        crops, source = parity_crops(ckpt, data, args.split,
                                     args.crops)
        diff = max_difference(model_path, tmp, crops)
        print(f"parity on {source}: max |p_onnxruntime - p_torch| = {diff:.2e} "
              f"(limit {PARITY_LIMIT:.0e})")
        if not diff <= PARITY_LIMIT:
            print(f"error: ONNX Runtime and torch disagree by {diff:.2e} > {PARITY_LIMIT:.0e} on "
                  f"real face crops: {out} was not written; check the onnxruntime and torch "
                  "versions (pip install -U onnxruntime)", file=sys.stderr)
            return 1
        os.replace(tmp, out)
        tmp = None
    except ImportError as exc:
        print(f"error: export needs torch, onnx and onnxruntime ({exc}): pip install torch "
              "onnx onnxruntime", file=sys.stderr)
        return 2
    except (ModelError, DatasetError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        if tmp and os.path.exists(tmp):
            os.remove(tmp)
    print(f"wrote {out} ({os.path.getsize(out) / 1e6:.1f} MB)")
    return 0
