"""Hostile frames without ROS: decompression bombs, formats the node does not accept, the
pixel limit, decoder noise on stderr, header parsing, and safe log fields (issue 9).
"""

import time

import cv2
import hostile
import numpy as np
import pytest

from marrtino_facemask import image_codec, image_header
from marrtino_facemask.image_codec import (
    DEFAULT_MAX_PIXELS,
    FAULT_KINDS,
    FrameError,
    compressed_to_bgr,
    image_to_bgr,
)
from marrtino_facemask.log_text import escape, field, one_line


@pytest.fixture(scope="module")
def small(astronaut_bgr):
    return cv2.resize(astronaut_bgr, (64, 48))


@pytest.fixture
def no_decoder(monkeypatch):
    """cv2.imdecode replaced by a spy: a refused frame must never reach a decoder."""
    calls = []

    def spy(buf, flags):
        calls.append(len(buf))
        raise AssertionError("the decoder was called")
    monkeypatch.setattr(image_codec.cv2, "imdecode", spy)
    return calls


# --------------------------------------------------------------------------- bombs
@pytest.mark.parametrize("fmt,make,side", [
    ("jpeg", lambda: hostile.jpeg_bomb(32767, 32767), 32767),
    ("png", lambda: hostile.png_bomb(20000, 20000), 20000),
    ("", lambda: hostile.jpeg_bomb(32767, 32767), 32767),
    ("png", lambda: hostile.png_bomb(4097, 4096, rows=1), 4097),
])
def test_bombs_are_refused_from_their_header(no_decoder, fmt, make, side):
    """Before: the 32767x32767 jpeg took 15.5 s and 6.1 GB, the 20000x20000 png 3.8 s and
    2.3 GB (measured in a fresh process); now both are refused from the header.
    """
    data = make()
    t0 = time.perf_counter()
    with pytest.raises(FrameError) as info:
        compressed_to_bgr(fmt, data)
    assert time.perf_counter() - t0 < 0.05
    assert info.value.kind == "too_large" and no_decoder == []
    assert f"{side}x" in str(info.value) and "max_image_pixels" in str(info.value)


def test_bombs_declare_what_the_header_parser_reads():
    assert image_header.jpeg_size(hostile.jpeg_bomb(32767, 20000)) == (32767, 20000)
    assert image_header.png_size(hostile.png_bomb(20000, 300, rows=1)) == (20000, 300)
    assert len(hostile.jpeg_bomb()) < 1000 and len(hostile.png_bomb()) < 400_000


def test_bomb_in_a_fresh_process_stays_small(tmp_path):
    """The real decoder path (no spy), in its own process: peak RSS stays low."""
    import subprocess
    import sys
    script = tmp_path / "bomb.py"
    script.write_text(
        "import resource, sys\n"
        "sys.path.insert(0, %r)\n"
        "import hostile\n"
        "from marrtino_facemask.image_codec import compressed_to_bgr, FrameError\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "for fmt, data in [('jpeg', hostile.jpeg_bomb()), ('png', hostile.png_bomb())]:\n"
        "    try:\n"
        "        compressed_to_bgr(fmt, data)\n"
        "    except FrameError:\n"
        "        pass\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)\n"
        % str(hostile.__file__.rsplit("/", 1)[0]))
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    grown_kb = int(out.stdout.split()[-1])
    assert grown_kb < 200_000, f"peak RSS grew by {grown_kb} kB"
    assert out.stderr == ""


# --------------------------------------------------------------------------- pixel limit
def test_pixel_limit_applies_to_raw_and_compressed(small):
    h, w = small.shape[:2]
    data = small.tobytes()
    assert image_to_bgr(h, w, "bgr8", w * 3, data, max_pixels=h * w).shape == small.shape
    with pytest.raises(FrameError) as info:
        image_to_bgr(h, w, "bgr8", w * 3, data, max_pixels=h * w - 1)
    assert info.value.kind == "too_large"
    for ext, fmt in ((".jpg", "jpeg"), (".png", "png")):
        encoded = hostile.encoded(small, ext)
        assert compressed_to_bgr(fmt, encoded, max_pixels=h * w).shape == small.shape
        with pytest.raises(FrameError) as info:
            compressed_to_bgr(fmt, encoded, max_pixels=h * w - 1)
        assert info.value.kind == "too_large" and f"{w}x{h}" in str(info.value)


def test_default_limit_is_4096_squared():
    assert DEFAULT_MAX_PIXELS == 4096 * 4096
    with pytest.raises(FrameError):
        image_to_bgr(4097, 4096, "mono8", 4096, bytes(64))


# --------------------------------------------------------------------------- formats
def test_formats_other_than_jpeg_and_png_are_refused(small, no_decoder):
    others = hostile.other_format_frames(small)
    assert len(others) >= 6, [f for f, _ in others]
    for fmt, data in others:
        for field_value in (fmt, "", "jpeg", "png", "rgb8; jpeg compressed bgr8"):
            with pytest.raises(FrameError) as info:
                compressed_to_bgr(field_value, data)
            assert info.value.kind == "format", (fmt, field_value, str(info.value))
    assert no_decoder == []


@pytest.mark.parametrize("field_value", ["jpeg", "JPEG", "jpg", "", "bgr8; jpeg compressed bgr8",
                                         "rgb8; jpeg compressed rgb8"])
def test_jpeg_format_fields_that_are_accepted(small, field_value):
    out = compressed_to_bgr(field_value, hostile.encoded(small, ".jpg"))
    assert out.shape == small.shape


@pytest.mark.parametrize("field_value", ["png", "", "bgr8; png compressed bgr8"])
def test_png_format_fields_that_are_accepted(small, field_value):
    out = compressed_to_bgr(field_value, hostile.encoded(small, ".png"))
    np.testing.assert_array_equal(out, small)


@pytest.mark.parametrize("field_value,ext", [
    ("png", ".jpg"), ("jpeg", ".png"), ("webp", ".png"), ("16UC1; compressedDepth png", ".png"),
    ("jpeg png", ".png"), ("tiff", ".jpg")])
def test_format_field_must_match_the_data(small, field_value, ext):
    with pytest.raises(FrameError) as info:
        compressed_to_bgr(field_value, hostile.encoded(small, ext))
    assert info.value.kind == "format"


def test_format_from_field():
    f = image_header.format_from_field
    assert f("jpeg") == f("JPEG ") == f("jpg") == f("rgb8; jpeg compressed bgr8") == "jpeg"
    assert f("png") == f("mono16; png compressed mono16") == "png"
    assert f("") == f("  ") == ""
    assert f("webp") is None and f("jpeg png") is None and f("compressedDepth png") is None


# --------------------------------------------------------------------------- headers
@pytest.mark.parametrize("params", [[], [cv2.IMWRITE_JPEG_PROGRESSIVE, 1],
                                    [cv2.IMWRITE_JPEG_OPTIMIZE, 1]])
def test_jpeg_size_reads_real_jpegs(astronaut_bgr, params):
    img = cv2.resize(astronaut_bgr, (333, 211))
    assert image_header.jpeg_size(hostile.encoded(img, ".jpg", params)) == (333, 211)


def test_png_size_reads_real_pngs(astronaut_bgr):
    img = cv2.resize(astronaut_bgr, (333, 211))
    assert image_header.png_size(hostile.encoded(img, ".png")) == (333, 211)
    gray = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    assert image_header.png_size(hostile.encoded(gray, ".png")) == (333, 211)


@pytest.mark.parametrize("cut", [3, 4, 10, 20, 100, 150])
def test_truncated_jpeg_headers(astronaut_bgr, cut):
    data = hostile.encoded(cv2.resize(astronaut_bgr, (64, 48)), ".jpg")
    sof = data.index(b"\xff\xc0")
    if cut > sof + 9:
        assert image_header.jpeg_size(data[:cut]) == (64, 48)
    else:
        with pytest.raises(image_header.HeaderError):
            image_header.jpeg_size(data[:cut])


def test_header_errors_are_frame_errors(small):
    with pytest.raises(FrameError) as info:
        compressed_to_bgr("png", image_header.PNG_MAGIC + b"\x00\x00\x00\x0dIHDX" + bytes(20))
    assert info.value.kind == "header"
    with pytest.raises(FrameError) as info:
        compressed_to_bgr("jpeg", b"\xff\xd8\xff\xda\x00\x02" + bytes(100))
    assert info.value.kind == "header"


# --------------------------------------------------------------------------- decoder noise
def _flip(data, i):
    data = bytearray(data)
    data[i] ^= 0xFF
    return bytes(data)


def test_decoder_messages_go_into_the_error_not_to_stderr(small, capfd):
    """Before: libpng/OpenCV printed these straight to stderr, once per frame."""
    png = hostile.encoded(small, ".png")
    idat = png.index(b"IDAT")
    cases = [png[:len(png) // 2], _flip(png, idat + 20)]
    reasons = []
    for data in cases * 3:
        with pytest.raises(FrameError) as info:
            compressed_to_bgr("png", data)
        assert info.value.kind == "decode"
        reasons.append(str(info.value))
    out, err = capfd.readouterr()
    assert err == "" and out == ""
    assert "incomplete" in reasons[0] and "libpng error" in reasons[1], reasons
    assert "WARN:" not in reasons[0]
    # stderr works again afterwards
    import os
    os.write(2, b"still here\n")
    assert capfd.readouterr().err == "still here\n"


def test_fault_kinds_are_a_fixed_set():
    with pytest.raises(ValueError):
        FrameError("x", "something new")
    assert len(FAULT_KINDS) == len(set(FAULT_KINDS)) <= 10


def test_fuzzed_frames_raise_only_frame_errors(astronaut_bgr, capfd):
    fuzz = hostile.Fuzzer(7, astronaut_bgr)
    kinds = set()
    t0 = time.perf_counter()
    for _ in range(400):
        fmt, data = fuzz.compressed()
        try:
            compressed_to_bgr(fmt, data)
        except FrameError as exc:
            kinds.add(exc.kind)
            assert "\n" not in str(exc) and len(str(exc)) < 500
        h, w, enc, step, raw = fuzz.raw()
        try:
            image_to_bgr(h, w, enc, step, raw)
        except FrameError as exc:
            kinds.add(exc.kind)
            assert "\n" not in str(exc) and len(str(exc)) < 500
    assert time.perf_counter() - t0 < 30
    assert kinds >= {"format", "too_large", "header", "decode", "encoding", "step", "data_size",
                     "empty"}
    assert capfd.readouterr().err == ""


# --------------------------------------------------------------------------- log fields
def test_escape_control_and_line_break_characters():
    assert escape("cam\n[ERROR] x") == "cam\\n[ERROR] x"
    assert escape("a\r\tb\x00c\x1b[31m") == "a\\r\\tb\\x00c\\x1b[31m"
    assert escape("a\u2028b\u2029c\x85d\u202ee") == "a\\u2028b\\u2029c\\x85d\\u202ee"
    assert escape("plain ascii, ünïcödé and 漢字") == "plain ascii, ünïcödé and 漢字"
    assert escape(escape("x\ny")) == escape("x\ny")


def test_field_cuts_long_values():
    out = field("x" * 1_000_000)
    assert len(out) < 100 and out.endswith("(1000000 chars)")
    assert len(field("\n" * 10_000)) < 400
    assert "\n" not in one_line("a\nb\u2028c" * 1000) and len(one_line("y" * 10_000)) < 400
