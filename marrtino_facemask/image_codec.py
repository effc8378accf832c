"""sensor_msgs Image / CompressedImage payloads <-> BGR arrays, without cv_bridge.

Works on the message fields, so it is usable (and tested) without ROS. Encoding names are
cv_bridge's (sensor_msgs/image_encodings.hpp). Every bad frame raises :class:`FrameError`
with a one-line reason and a fault category (``kind``, one of :data:`FAULT_KINDS`).

Compressed frames: only jpeg and png are decoded. The ``format`` field must name one of
them (or be empty: then the magic bytes decide), the data must start with that format's
magic bytes, and the size declared in its header must be within the pixel limit, all
before a decoder sees the data. What libjpeg/libpng print meanwhile is captured and goes
into the FrameError's text instead of the process's stderr.
"""

import re
import sys

import cv2
import numpy as np

from . import image_header
from .log_text import field
from .stderr_capture import StderrCapture

MAX_SIDE = 16384          # larger declared sides are rejected before touching the data
DEFAULT_MAX_PIXELS = 4096 * 4096   # the node's max_image_pixels default
MAX_COMPRESSED_BYTES = 64 * 1024 * 1024
# Fault categories of FrameError: a fixed set, so that a throttle keyed on them is bounded.
FAULT_KINDS = ("encoding", "empty", "too_large", "step", "data_size", "odd_width", "format",
               "header", "decode")

# encoding -> (channels, dtype, cv2 conversion to BGR or None)
_ENCODINGS = {
    "bgr8": (3, np.uint8, None),
    "rgb8": (3, np.uint8, cv2.COLOR_RGB2BGR),
    "bgra8": (4, np.uint8, cv2.COLOR_BGRA2BGR),
    "rgba8": (4, np.uint8, cv2.COLOR_RGBA2BGR),
    "mono8": (1, np.uint8, cv2.COLOR_GRAY2BGR),
    "8UC1": (1, np.uint8, cv2.COLOR_GRAY2BGR),
    "8UC3": (3, np.uint8, None),
    "mono16": (1, np.uint16, cv2.COLOR_GRAY2BGR),
    "16UC1": (1, np.uint16, cv2.COLOR_GRAY2BGR),
    # packed 4:2:2, 2 bytes per pixel
    "yuv422": (2, np.uint8, cv2.COLOR_YUV2BGR_UYVY),
    "uyvy": (2, np.uint8, cv2.COLOR_YUV2BGR_UYVY),
    "yuv422_yuy2": (2, np.uint8, cv2.COLOR_YUV2BGR_YUY2),
    "yuyv": (2, np.uint8, cv2.COLOR_YUV2BGR_YUY2),
}
SUPPORTED_ENCODINGS = tuple(_ENCODINGS)


class FrameError(ValueError):
    """A frame that cannot be turned into a BGR image.

    ``kind`` is its fault category (one of :data:`FAULT_KINDS`); the text quotes message
    fields only through :func:`log_text.field`, so it is one safe line.
    """

    def __init__(self, message, kind):
        super().__init__(message)
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}")
        self.kind = kind


def check_size(width, height, max_pixels=DEFAULT_MAX_PIXELS):
    """Raise FrameError unless a declared ``width`` x ``height`` is non-empty and allowed."""
    if height <= 0 or width <= 0:
        raise FrameError(f"empty image ({width}x{height})", "empty")
    if height > MAX_SIDE or width > MAX_SIDE or width * height > max_pixels:
        raise FrameError(f"declared size {width}x{height} ({width * height} pixels) is over "
                         f"the limit (max_image_pixels {max_pixels}, at most {MAX_SIDE} px a "
                         "side)", "too_large")


def image_to_bgr(height, width, encoding, step, data, is_bigendian=0,
                 max_pixels=DEFAULT_MAX_PIXELS):
    """Convert the fields of a sensor_msgs/Image into a (height, width, 3) uint8 BGR array."""
    if encoding not in _ENCODINGS:
        raise FrameError(f"unsupported encoding '{field(encoding)}': publish one of "
                         f"{', '.join(SUPPORTED_ENCODINGS)}", "encoding")
    check_size(width, height, max_pixels)
    channels, dtype, conversion = _ENCODINGS[encoding]
    itemsize = np.dtype(dtype).itemsize
    row_bytes = width * channels * itemsize
    if encoding in ("yuv422", "uyvy", "yuv422_yuy2", "yuyv") and width % 2:
        raise FrameError(f"{encoding} needs an even width, got {width}", "odd_width")
    if step < row_bytes:
        raise FrameError(f"step {step} is smaller than width*bytes_per_pixel = {row_bytes}",
                         "step")
    buf = np.frombuffer(data, dtype=np.uint8)
    if buf.size != step * height:
        raise FrameError(f"data has {buf.size} bytes but step*height = {step}*{height} = "
                         f"{step * height}", "data_size")
    rows = buf.reshape(height, step)[:, :row_bytes]
    # NumPy before 1.23 (Ubuntu 22.04 has 1.21) views only a C-contiguous array as wider
    # items, and padded rows are not: copy them first (16-bit encodings only)
    pixels = (np.ascontiguousarray(rows).view(dtype) if itemsize > 1 and step != row_bytes
              else rows.view(dtype) if itemsize > 1 else rows)
    if itemsize > 1 and bool(is_bigendian) != (sys.byteorder == "big"):
        pixels = pixels.byteswap()
    pixels = pixels.reshape(height, width, channels)
    if dtype == np.uint16:
        pixels = (pixels >> 8).astype(np.uint8)
    if conversion is None:
        return np.ascontiguousarray(pixels)
    return cv2.cvtColor(np.ascontiguousarray(pixels), conversion)


_capture = None
_OPENCV_LOG_PREFIX = re.compile(r"\[\s*[A-Z]+:\d+@[\d.]+\]")   # "[ WARN:0@0.619]"


def _decoder_stderr():
    global _capture
    if _capture is None:
        _capture = StderrCapture()
    return _capture


def compressed_format(fmt, data):
    """The format ('jpeg' or 'png') of a CompressedImage, checked against its magic bytes.

    An empty ``fmt`` is read from the magic bytes; anything but jpeg/png is a FrameError.
    """
    named = image_header.format_from_field(fmt)
    sniffed = image_header.sniff_format(data)
    if named is None:
        raise FrameError(f"unsupported compressed format '{field(fmt)}': publish jpeg or png",
                         "format")
    if not named:
        if sniffed is None:
            raise FrameError("empty format field and the data is neither jpeg nor png",
                             "format")
        return sniffed
    if sniffed != named:
        raise FrameError(f"format '{field(fmt)}' but the data is "
                         f"{'not ' + named if sniffed is None else sniffed}", "format")
    return named


def compressed_to_bgr(fmt, data, max_pixels=DEFAULT_MAX_PIXELS):
    """Decode a sensor_msgs/CompressedImage (jpeg or png) into a BGR array.

    The format and the declared size are checked first (no decoder runs on a refused
    frame); decoder messages on stderr are captured into the FrameError's text.
    """
    buf = np.frombuffer(data, dtype=np.uint8)
    if buf.size == 0:
        raise FrameError(f"empty compressed image (format '{field(fmt)}')", "empty")
    if buf.size > MAX_COMPRESSED_BYTES:
        raise FrameError(f"compressed image of {buf.size} bytes is too large", "too_large")
    kind = compressed_format(fmt, buf)
    try:
        width, height = image_header.declared_size(kind, buf)
    except image_header.HeaderError as exc:
        raise FrameError(f"cannot read the {kind} header: {exc}", "header") from None
    check_size(width, height, max_pixels)
    capture = _decoder_stderr()
    error = None
    with capture:
        try:
            bgr = cv2.imdecode(buf, cv2.IMREAD_COLOR)
        except cv2.error as exc:
            bgr, error = None, str(exc).strip().splitlines()[-1]
    if bgr is None or bgr.size == 0:
        said = error or _OPENCV_LOG_PREFIX.sub(" ", capture.text) or f"not a valid {kind}"
        said = " ".join(said.split())
        raise FrameError(f"cannot decode {kind} image ({width}x{height}): "
                         f"{field(said, 160)}", "decode")
    return bgr


def bgr_to_image_fields(bgr):
    """(height, width, 'bgr8', step, bytes) of a BGR array, for a sensor_msgs/Image."""
    bgr = np.ascontiguousarray(bgr, dtype=np.uint8)
    height, width = bgr.shape[:2]
    return height, width, "bgr8", width * 3, bgr.tobytes()


def bgr_to_encoding(bgr, encoding):
    """Encode a BGR array as ``encoding`` (for publishers and tests): returns (step, bytes)."""
    height, width = bgr.shape[:2]
    if encoding in ("bgr8", "8UC3"):
        out = bgr
    elif encoding == "rgb8":
        out = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    elif encoding == "bgra8":
        out = cv2.cvtColor(bgr, cv2.COLOR_BGR2BGRA)
    elif encoding == "rgba8":
        out = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGBA)
    elif encoding in ("mono8", "8UC1"):
        out = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    elif encoding in ("mono16", "16UC1"):
        out = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY).astype(np.uint16) * 257
    elif encoding in ("yuv422", "uyvy", "yuv422_yuy2", "yuyv"):
        # BT.601 limited range, which OpenCV's UYVY/YUY2 decoders expect
        b, g, r = (bgr[..., i].astype(np.float32) for i in range(3))
        y = np.clip(16 + 0.257 * r + 0.504 * g + 0.098 * b, 0, 255).round().astype(np.uint8)
        u = np.clip(128 - 0.148 * r - 0.291 * g + 0.439 * b, 0, 255).round().astype(np.uint8)
        v = np.clip(128 + 0.439 * r - 0.368 * g - 0.071 * b, 0, 255).round().astype(np.uint8)
        u2 = ((u[:, 0::2].astype(np.uint16) + u[:, 1::2]) // 2).astype(np.uint8)
        v2 = ((v[:, 0::2].astype(np.uint16) + v[:, 1::2]) // 2).astype(np.uint8)
        out = np.empty((height, width, 2), np.uint8)
        if encoding in ("yuv422", "uyvy"):
            out[:, 0::2, 0], out[:, 1::2, 0] = u2, v2
            out[..., 1] = y
        else:
            out[..., 0] = y
            out[:, 0::2, 1], out[:, 1::2, 1] = u2, v2
    else:
        raise FrameError(f"unsupported encoding '{field(encoding)}'", "encoding")
    out = np.ascontiguousarray(out)
    return out.strides[0], out.tobytes()
