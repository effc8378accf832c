"""The classifier on ONNX Runtime: the ONNX file written by ``export`` (or ``quantize``).

Everything the crops need (class names, input size, crop margin, mean and std) is read from
the file's metadata (``metadata_props``), so the .pt checkpoint and torch are not needed.
The net outputs probabilities (softmax included). This module imports neither torch nor onnx.
"""

import hashlib
import json
import os

import numpy as np

from .model_file import FORMAT, MODEL_PATH_HINT, ModelError, metadata_problem
from .ort_session import SessionError, open_session

ONNX_FORMAT = FORMAT + ".onnx"
INPUT_NAME = "input"
OUTPUT_NAME = "probabilities"
# metadata_props keys; JSON values (a list for class_names, mean, std; a dict for meta)
JSON_KEYS = ("class_names", "input_size", "crop_margin", "mean", "std", "meta")
EXPORT_HINT = (f"{MODEL_PATH_HINT}, or write the .onnx again with "
               "`python -m marrtino_facemask export --model MODEL.pt`")


class StaleExportError(ModelError):
    """The .onnx next to a .pt was exported from another version of that .pt."""


def sha256_of(path, chunk=1 << 20):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def metadata_props(ckpt, source_sha256, source_name, **extra):
    """The ``metadata_props`` (str -> str) of an exported checkpoint: its preprocessing,
    class names and training metadata, and the sha256 of the .pt it came from.
    """
    props = {"format": ONNX_FORMAT, "source_checkpoint": source_name,
             "source_sha256": source_sha256,
             **{k: json.dumps(ckpt.get(k, {}) if k == "meta" else ckpt[k]) for k in JSON_KEYS}}
    props.update({k: str(v) for k, v in extra.items()})
    return props


def parse_metadata(props, path):
    """The checkpoint-like dict of ``metadata_props``; a :class:`ModelError` line if it is not
    one of our exports or its values make no sense (the checks of a .pt checkpoint).
    """
    if props.get("format") != ONNX_FORMAT:
        raise ModelError(f"model file '{path}' is not a marrtino_facemask ONNX export (no format "
                         f"'{ONNX_FORMAT}' in its metadata): {EXPORT_HINT}")
    fields = {}
    for key in JSON_KEYS:
        try:
            fields[key] = json.loads(props.get(key, "null" if key != "meta" else "{}"))
        except ValueError:
            fields[key] = None
    kinds = {"class_names": list, "input_size": int, "crop_margin": (int, float), "mean": list,
             "std": list, "meta": dict}
    for key, kind in kinds.items():
        if not isinstance(fields[key], kind) or isinstance(fields[key], bool):
            raise ModelError(f"model file '{path}' is damaged: metadata '{key}' is missing or "
                             f"malformed: {EXPORT_HINT}")
    fields["crop_margin"] = float(fields["crop_margin"])
    problem = metadata_problem(fields)
    if problem:
        raise ModelError(f"model file '{path}' has bad metadata: {problem}: {EXPORT_HINT}")
    return {**fields, **{k: v for k, v in props.items() if k not in JSON_KEYS}}


def _session(path):
    try:
        return open_session(path)
    except SessionError as exc:
        if "too old" in str(exc):
            raise ModelError(f"cannot read model file '{path}': {exc}") from None
        raise ModelError(f"model file '{path}' is corrupt or not an ONNX model "
                         f"({str(exc)[:160]}): {EXPORT_HINT}") from None


def read_metadata(path):
    """The parsed metadata of an exported ONNX classifier (see :func:`parse_metadata`)."""
    return parse_metadata(_session(path).get_modelmeta().custom_metadata_map, path)


def checked_fields(props, path, exported_from=None):
    """The parsed metadata of an exported classifier (:func:`parse_metadata`), after checking
    that ``path`` comes from ``exported_from``: when that .pt exists and its sha256 is not the
    one recorded at export, :class:`StaleExportError`. Shared by every runtime of the file.
    """
    fields = parse_metadata(props, path)
    if exported_from and os.path.isfile(exported_from) \
            and fields.get("source_sha256") != sha256_of(exported_from):
        raise StaleExportError(
            f"'{path}' was not exported from '{exported_from}' (the checkpoint's sha256 "
            f"differs from the one recorded at export): run `python -m marrtino_facemask "
            f"export --model {exported_from}` again")
    return fields


def misfit_error(path, num_classes):
    """The error for a file whose inputs and outputs are not one batch in, one row of
    ``num_classes`` probabilities out.
    """
    return ModelError(f"model file '{path}' does not fit its metadata (one input, one output "
                      f"of {num_classes} probabilities): {EXPORT_HINT}")


class ExportedNet:
    """What a runtime's net of an exported classifier shares: the attributes that
    :class:`~.classifier.MaskClassifier` reads, from the file's metadata ``fields``.
    """

    device = "cpu"

    def _set_fields(self, fields):
        self.class_names = tuple(fields["class_names"])
        self.input_size = int(fields["input_size"])
        self.margin = float(fields["crop_margin"])
        self.mean = tuple(fields["mean"])
        self.std = tuple(fields["std"])
        self.meta = fields["meta"]
        self.metadata = fields
        self.precision = fields.get("precision", "float32")


class OnnxRuntimeNet(ExportedNet):
    """An exported classifier on ONNX Runtime (CPU); :meth:`probabilities` of an input batch.

    ``exported_from``: the .pt that ``path`` is expected to come from (see
    :func:`checked_fields`).
    """

    def __init__(self, path, exported_from=None):
        if not os.path.isfile(path):
            raise ModelError(f"model file '{path}' not found: {EXPORT_HINT}")
        self.session = _session(path)
        self._set_fields(checked_fields(self.session.get_modelmeta().custom_metadata_map, path,
                                        exported_from))
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        if len(inputs) != 1 or len(outputs) != 1 or outputs[0].shape[-1] != len(self.class_names):
            raise misfit_error(path, len(self.class_names))
        self.input_name = inputs[0].name

    def probabilities(self, batch):
        batch = np.ascontiguousarray(batch, np.float32)
        return self.session.run(None, {self.input_name: batch})[0]
