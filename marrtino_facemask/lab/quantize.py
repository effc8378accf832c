"""``python -m marrtino_facemask quantize``: int8 copies of the face detector and the classifier.

Static quantization with ONNX Runtime (``onnxruntime.quantization``): QDQ format, int8
weights per output channel (7-bit range), uint8 activations, min-max calibration; the layers
that make the outputs (scores, box regressions, probabilities) stay float32. The calibration data
comes from the TRAINING side of the split only (``--split``, else the split recorded in the
classifier checkpoint), chosen by ``--seed``: ``--frames`` photos resized to the camera's
640x480 for CenterFace (run at a fixed 640x480 input), ``--crops`` labelled faces cut as the
node cuts them for the classifier. The same data, seed and versions give the same files.
Nothing derived from the dataset is written besides the models.

Writes, by default next to the inputs: ``face_detectors/centerface_int8.onnx`` (what the
node's ``centerface`` runs; rewritten by detector_graph.py to take the uint8 BGR frame, with
the same outputs) and ``MODEL_int8.onnx`` from the classifier's float32 ONNX file
``MODEL.onnx`` (run ``export`` first), with the classifier's metadata. Compare them with the
float32 files in one run: ``evaluate --detectors FOLDER/centerface_int8.onnx,
FOLDER/centerface.onnx`` and ``evaluate --model MODEL_int8.onnx`` against ``--model
MODEL.onnx``.
"""

import argparse
import os
import sys
import tempfile

from ..centerface import CenterFaceDetector
from ..classifier import onnx_file, to_input_batch
from ..classifier_onnx import OnnxRuntimeNet, read_metadata, sha256_of
from ..faces import CENTERFACE_INT8_ONNX, CENTERFACE_ONNX, FaceModelError, default_face_model_dir
from ..paths import default_dataset_dir
from .checkpoint import ModelError, default_checkpoint_path, load_checkpoint
from .data import DatasetError
from .detector_graph import FRAME_INPUT_NOTE, REWRITES_NOTE, GraphRewriteError, rewrite_for_speed
from .export import set_metadata
from .real_samples import dataset_face_crops, dataset_frames, split_side

QDQ_MIN_OPSET = 13          # per-channel QDQ (axis on QuantizeLinear) needs opset 13
CALIBRATION_FRAME = (640, 480)
BATCH = 32                  # crops per calibration batch


def parse_args(argv):
    p = argparse.ArgumentParser(prog="python -m marrtino_facemask quantize", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=None, help="face_mask_scenes (default: $FACE_MASK_SCENES "
                                                "or ../shared/data/face_mask_scenes)")
    p.add_argument("--split", default=None,
                   help="split.json; its training side calibrates (default: the split.json "
                        "beside the checkpoint, else the checkpoint's recorded split of --data)")
    p.add_argument("--model", default=None,
                   help="classifier checkpoint .pt (its float32 .onnx from `export`, beside it, "
                        "is quantized) or a float32 .onnx (default: the shipped checkpoint, "
                        "models/facemask_resnet18.pt)")
    p.add_argument("--detector-model", default=None,
                   help=f"CenterFace ONNX (default: the shipped {CENTERFACE_ONNX})")
    p.add_argument("--what", default="detector,classifier",
                   help="comma-separated: detector, classifier")
    p.add_argument("--frames", type=int, default=128,
                   help="training photos for the detector (128: the best of 64, 128 and 256 "
                        "on our validation split)")
    p.add_argument("--crops", type=int, default=1024, help="training faces for the classifier")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--detector-out", default=None,
                   help=f"default: {CENTERFACE_INT8_ONNX} beside the detector model")
    p.add_argument("--classifier-out", default=None,
                   help="default: the classifier's ONNX path with _int8")
    return p.parse_args(argv)


class ArrayReader:
    """An ``onnxruntime.quantization.CalibrationDataReader`` over fixed input arrays."""

    def __init__(self, input_name, arrays):
        self.input_name = input_name
        self.arrays = list(arrays)
        self.rewind()

    def get_next(self):
        return next(self._it, None)

    def rewind(self):
        self._it = iter({self.input_name: a} for a in self.arrays)


def quantize_onnx(src, dst, input_name_arrays, metadata, rewrite=None):
    """Quantize the ONNX file ``src`` to ``dst`` (static int8 QDQ, per channel, min-max),
    calibrated on the given arrays of its one input; ``metadata``: props of ``dst``;
    ``rewrite``: a function applied to the quantized ``onnx.ModelProto`` before it is saved.
    """
    import onnx
    from onnx import version_converter
    model = onnx.load(src)
    opset = next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
    if opset < QDQ_MIN_OPSET:
        model = version_converter.convert_version(model, QDQ_MIN_OPSET)
    partial = dst + ".tmp"
    try:
        quantize_static_qdq(model, partial, input_name_arrays)
        out = onnx.load(partial)
        if rewrite is not None:
            rewrite(out)
        set_metadata(out, metadata)
        onnx.checker.check_model(out)
        onnx.save(out, partial)
        os.replace(partial, dst)
    finally:
        if os.path.exists(partial):
            os.remove(partial)
    return dst


def quantize_static_qdq(model, dst, input_name_arrays):
    """ONNX Runtime's preparation and static quantization of ``model`` into ``dst``."""
    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process
    with tempfile.TemporaryDirectory(prefix="marrtino_quantize_") as tmp:
        converted, prepared = os.path.join(tmp, "in.onnx"), os.path.join(tmp, "prepared.onnx")
        onnx.save(model, converted)
        # ONNX Runtime's own preparation: its optimiser folds constants (the float16 weight
        # casts of export) and fuses batch norms into convolutions, then ONNX's shape
        # inference. The symbolic one gives up on CenterFace's any-size input (ConvTranspose);
        # the quantizer does not need it.
        quant_pre_process(converted, prepared, skip_symbolic_shape=True)
        graph = onnx.load(prepared).graph
        name = graph.input[0].name
        # uint8 activations x int8 weights: the product x86's int8 instructions compute
        # (VPMADDUBSW on AVX2, VPDPBUSD on AVX-512 VNNI); int8 x int8 ran no faster than
        # float32 on the AVX2 CPU of earlier releases. reduce_range (7-bit weights) keeps
        # AVX2's 16-bit sums of two products from saturating: without it the detector lost
        # 0.015 mAP50.
        quantize_static(prepared, dst, ArrayReader(name, input_name_arrays),
                        quant_format=QuantFormat.QDQ, per_channel=True, reduce_range=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        calibrate_method=CalibrationMethod.MinMax,
                        nodes_to_exclude=output_layers(graph))


def output_layers(graph, activations=("Sigmoid", "Softmax")):
    """Names of the nodes that make the graph's outputs: the last layer of each output and
    its activation. They stay float32, so that scores and box regressions come out
    unquantized: a quantized softmax gave probabilities in steps of 1/255 that summed to
    0.996, a quantized heatmap face scores in such steps. These layers are small (1x1
    convolutions with 1 to 10 channels, a 512x3 matrix), so it costs little time.
    """
    producer = {out: node for node in graph.node for out in node.output}
    names = []
    for output in graph.output:
        node = producer.get(output.name)
        while node is not None:
            names.append(node.name)
            node = producer.get(node.input[0]) if node.op_type in activations else None
    return names


def calibration_note(args, what, count, side_text):
    return (f"onnxruntime.quantization static QDQ: uint8 activations, int8 per-channel weights "
            f"(7-bit range), min-max, output layers float32; calibrated on {count} {what} of "
            f"{side_text}, seed {args.seed}")


def quantize_detector(args, root, samples, side_text):
    src = args.detector_model or os.path.join(default_face_model_dir(), CENTERFACE_ONNX)
    dst = args.detector_out or os.path.join(os.path.dirname(src), CENTERFACE_INT8_ONNX)
    frames = dataset_frames(root, samples, args.frames, args.seed, CALIBRATION_FRAME)
    # the node's own preprocessing (RGB 0..255 at the net's size), here a fixed 640x480
    detector = CenterFaceDetector(model_path=src, input_size=max(CALIBRATION_FRAME))
    blobs = [detector.blob(f)[0] for f in frames]
    note = calibration_note(args, "training photos at 640x480", len(blobs), side_text)
    # then the rewrites of detector_graph.py: the same outputs from the bytes of the frame
    try:
        quantize_onnx(src, dst, blobs, {"source_model": os.path.basename(src),
                                        "source_sha256": sha256_of(src), "precision": "int8",
                                        "calibration": note, "input": FRAME_INPUT_NOTE,
                                        "rewrites": REWRITES_NOTE},
                      rewrite=rewrite_for_speed)
    except GraphRewriteError as exc:
        raise FaceModelError(f"cannot rewrite the int8 graph of {src} to take frames ({exc}): "
                             "quantize --what detector takes CenterFace nets, as shipped or "
                             "from train-detector") from None
    print(f"wrote {dst} ({os.path.getsize(dst) / 1e6:.1f} MB): {note}", flush=True)
    return dst


def float32_onnx(model):
    """The float32 ONNX file of a classifier: ``model`` itself if it is an .onnx, else the
    NAME.onnx that ``export`` writes beside a NAME.pt.
    """
    return model if model.lower().endswith(".onnx") else os.path.splitext(model)[0] + ".onnx"


def quantize_classifier(args, root, samples, side_text):
    model = args.model or default_checkpoint_path()
    src = float32_onnx(model)
    if not os.path.isfile(src):
        raise ModelError(f"no float32 ONNX file '{src}' to quantize: run `python -m "
                         f"marrtino_facemask export --model {model}` first")
    net = OnnxRuntimeNet(src, exported_from=None if src == model else model)
    if net.precision != "float32":
        raise ModelError(f"'{src}' is {net.precision} already: give the float32 .onnx that "
                         "`python -m marrtino_facemask export` writes, or its .pt")
    dst = args.classifier_out or os.path.splitext(src)[0] + "_int8.onnx"
    align = bool(net.meta.get("args", {}).get("align"))      # cut as the node will cut them
    crops = dataset_face_crops(root, samples, net.input_size, net.margin, args.crops, args.seed,
                               align=align)
    batch = to_input_batch(crops, net.mean, net.std)
    batches = [batch[i:i + BATCH] for i in range(0, len(batch), BATCH)]
    note = calibration_note(args, "training faces" + (" (aligned crops)" if align else ""),
                            len(crops), side_text)
    props = dict(net.session.get_modelmeta().custom_metadata_map)   # class names, crop, ...
    props.update(precision="int8", calibration=note, quantized_from=os.path.basename(src),
                 quantized_from_sha256=sha256_of(src))
    quantize_onnx(src, dst, batches, props)
    print(f"wrote {dst} ({os.path.getsize(dst) / 1e6:.1f} MB): {note}", flush=True)
    return dst


def recorded_training_args(model):
    """The training arguments (seed, validation fraction, split file) of the classifier: from
    its ONNX file's metadata, else from the .pt (needs torch).
    """
    path = onnx_file(model)
    if os.path.isfile(path):
        return read_metadata(path)["meta"].get("args", {})
    return load_checkpoint(model).get("meta", {}).get("args", {})


def training_side(args):
    """(root, samples, description) of the split's training side: ``--split``, else the
    split.json that training wrote beside the checkpoint, else the checkpoint's recorded
    split of ``--data``.
    """
    model = args.model or default_checkpoint_path()
    split = args.split
    beside = os.path.join(os.path.dirname(os.path.abspath(model)), "split.json")
    if not split and not args.data and os.path.isfile(beside):
        split = beside
    data = args.data or (None if split else default_dataset_dir())
    if not data and not split:
        raise DatasetError("no dataset: pass --data DIR or --split split.json (quantization "
                           "calibrates on the training side of the split)")
    train_args = {} if split else recorded_training_args(model)
    root, samples = split_side(data, split, "train", train_args)
    where = f"split {split}" if split else "the classifier checkpoint's split"
    photos = len({s.image for s in samples})
    return root, samples, f"the training side of {where} ({photos} photos)"


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    what = {w.strip() for w in args.what.split(",") if w.strip()}
    if not what or what - {"detector", "classifier"}:
        print("error: --what takes detector, classifier or both (comma-separated)",
              file=sys.stderr)
        return 2
    try:
        root, samples, side_text = training_side(args)
        if "detector" in what:
            quantize_detector(args, root, samples, side_text)
        if "classifier" in what:
            quantize_classifier(args, root, samples, side_text)
    except ImportError as exc:
        print(f"error: quantize needs onnx and onnxruntime ({exc}): pip install onnx "
              "onnxruntime", file=sys.stderr)
        return 2
    except (ModelError, FaceModelError, DatasetError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0
