"""image_codec without ROS: every encoding round-trips, every bad frame is a FrameError."""

import time
import tracemalloc

import cv2
import numpy as np
import pytest

from marrtino_facemask.image_codec import (
    MAX_SIDE,
    SUPPORTED_ENCODINGS,
    FrameError,
    bgr_to_encoding,
    bgr_to_image_fields,
    compressed_to_bgr,
    image_to_bgr,
)

EXACT_COLOR = ("bgr8", "8UC3", "rgb8", "bgra8", "rgba8")
GRAY = ("mono8", "8UC1", "mono16", "16UC1")
YUV = {"yuv422": "uyvy", "uyvy": "uyvy", "yuv422_yuy2": "yuyv", "yuyv": "yuyv"}


@pytest.fixture(scope="module")
def img(astronaut_bgr):
    # not square, so that swapped width/height would show
    return np.ascontiguousarray(astronaut_bgr[:200, 40:360])


def decode(bgr, encoding):
    step, data = bgr_to_encoding(bgr, encoding)
    h, w = bgr.shape[:2]
    return image_to_bgr(h, w, encoding, step, data)


def gray3(bgr):
    return cv2.cvtColor(cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)


def test_every_supported_encoding_is_covered():
    assert set(SUPPORTED_ENCODINGS) == set(EXACT_COLOR) | set(GRAY) | set(YUV)


@pytest.mark.parametrize("encoding", EXACT_COLOR)
def test_color_encodings_round_trip_exactly(img, encoding):
    out = decode(img, encoding)
    assert out.dtype == np.uint8 and out.shape == img.shape
    np.testing.assert_array_equal(out, img)


@pytest.mark.parametrize("encoding", GRAY)
def test_gray_encodings_round_trip(img, encoding):
    out = decode(img, encoding)
    assert out.shape == img.shape and out.dtype == np.uint8
    np.testing.assert_array_equal(out, gray3(img))


@pytest.mark.parametrize("encoding", ["mono16", "16UC1"])
def test_mono16_byte_order(img, encoding):
    gray = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY).astype(np.uint16) * 256 + 3  # low byte 3
    h, w = gray.shape
    little = gray.astype("<u2").tobytes()
    big = gray.astype(">u2").tobytes()
    expected = gray3(img)
    np.testing.assert_array_equal(image_to_bgr(h, w, encoding, w * 2, little, 0), expected)
    np.testing.assert_array_equal(image_to_bgr(h, w, encoding, w * 2, big, 1), expected)
    # reading big-endian data as little-endian gives garbage: the flag matters
    assert np.abs(image_to_bgr(h, w, encoding, w * 2, big, 0).astype(int)
                  - expected).mean() > 20


@pytest.mark.parametrize("encoding", sorted(YUV))
def test_yuv422_round_trip(img, encoding):
    out = decode(img, encoding)
    assert out.shape == img.shape
    err = np.abs(out.astype(int) - img.astype(int)).mean()
    assert err < 6, f"{encoding}: mean abs error {err:.1f}"
    # the byte order of the packing matters: decoding as the other layout is far off
    step, data = bgr_to_encoding(img, encoding)
    other = "yuyv" if YUV[encoding] == "uyvy" else "uyvy"
    wrong = image_to_bgr(img.shape[0], img.shape[1], other, step, data)
    assert np.abs(wrong.astype(int) - img.astype(int)).mean() > 3 * err + 10


@pytest.mark.parametrize("encoding,bpp", [("bgr8", 3), ("mono8", 1), ("mono16", 2),
                                          ("rgba8", 4), ("yuyv", 2)])
def test_padded_rows(img, encoding, bpp):
    """Step larger than width * bytes_per_pixel (row padding) is honoured."""
    h, w = img.shape[:2]
    step, data = bgr_to_encoding(img, encoding)
    rows = np.frombuffer(data, np.uint8).reshape(h, step)
    padded = np.concatenate([rows, np.full((h, 13), 77, np.uint8)], axis=1)
    out = image_to_bgr(h, w, encoding, step + 13, padded.tobytes())
    np.testing.assert_array_equal(out, decode(img, encoding))


def test_jpeg_round_trip(img):
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 95])
    assert ok
    out = compressed_to_bgr("jpeg", buf.tobytes())
    assert out.shape == img.shape
    assert cv2.PSNR(out, img) > 30


def test_png_round_trip_is_exact(img):
    ok, buf = cv2.imencode(".png", img)
    assert ok
    np.testing.assert_array_equal(compressed_to_bgr("png", buf.tobytes()), img)


def test_bgr_to_image_fields(img):
    h, w, enc, step, data = bgr_to_image_fields(img)
    assert (h, w, enc, step, len(data)) == (200, 320, "bgr8", 960, 200 * 960)
    np.testing.assert_array_equal(image_to_bgr(h, w, enc, step, data), img)


# ----------------------------------------------------------------------------- bad frames
BAD_FRAMES = {
    # name: (height, width, encoding, step, data, words that the reason must contain)
    "unknown encoding": (4, 4, "bayer_rggb8", 4, bytes(16), ["bayer_rggb8", "bgr8"]),
    "empty encoding": (4, 4, "", 12, bytes(48), ["unsupported encoding", "mono8"]),
    "empty image": (0, 0, "bgr8", 0, b"", ["empty image"]),
    "zero height": (0, 5, "bgr8", 15, b"", ["empty image"]),
    "data too short": (4, 4, "bgr8", 12, bytes(47), ["47", "48"]),
    "data too long": (4, 4, "bgr8", 12, bytes(49), ["49", "48"]),
    "step too small": (4, 4, "bgr8", 11, bytes(44), ["step 11", "12"]),
    "step vs mono16": (4, 4, "mono16", 4, bytes(16), ["step 4", "8"]),
    "odd width yuv": (2, 3, "yuyv", 6, bytes(12), ["even width"]),
    "huge declared size": (100_000, 100_000, "bgr8", 300_000, bytes(10), ["100000x100000"]),
}


@pytest.mark.parametrize("name", sorted(BAD_FRAMES))
def test_bad_frames_raise_frame_error(name):
    h, w, enc, step, data, words = BAD_FRAMES[name]
    with pytest.raises(FrameError) as info:
        image_to_bgr(h, w, enc, step, data)
    msg = str(info.value)
    assert "\n" not in msg and len(msg) < 300
    for word in words:
        assert word in msg, f"{name}: {word!r} not in {msg!r}"


@pytest.mark.parametrize("side", [MAX_SIDE, MAX_SIDE + 1, 10 ** 9])
def test_huge_declared_size_fails_before_allocating(side):
    """A tiny message that claims a giant image must fail fast, without a big allocation."""
    tracemalloc.start()
    t0 = time.perf_counter()
    try:
        with pytest.raises(FrameError):
            image_to_bgr(side, side, "bgr8", side * 3, bytes(64))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - t0 < 0.5
    assert peak < 1_000_000, f"allocated {peak} bytes for a 64-byte message"


@pytest.mark.parametrize("name,data,words,kind", [
    ("empty", b"", ["empty"], "empty"),
    ("garbage", bytes(range(256)) * 4, ["format 'jpeg'", "not jpeg"], "format"),
    ("text", b"this is not a jpeg", ["not jpeg"], "format"),
    ("jpeg header only", b"\xff\xd8\xff\xe0\x00\x10JFIF\x00", ["jpeg header", "SOF"],
     "header"),
])
def test_bad_compressed_frames(name, data, words, kind):
    with pytest.raises(FrameError) as info:
        compressed_to_bgr("jpeg", data)
    msg = str(info.value)
    assert "\n" not in msg and info.value.kind == kind
    for word in words:
        assert word in msg, f"{name}: {word!r} not in {msg!r}"
