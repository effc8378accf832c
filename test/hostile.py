"""Hostile inputs for the robustness tests and benchmarks: decompression bombs, truncated
and random jpeg/png, frames in other formats, malformed raw images, forged frame_ids.

Everything is generated here from a seed (no files); only numpy, OpenCV and zlib.
"""

import random
import struct
import zlib

import cv2
import numpy as np

FORGED_LINE = "[ERROR] [1700000000.0] [facemask_detector]: FORGED"   # fits 64 chars
HOSTILE_FRAME_IDS = (
    "cam\n" + FORGED_LINE,
    "cam\r\n" + FORGED_LINE,
    "cam\u2028" + FORGED_LINE,
    "\x1b[2J\x1b[31mred\x1b[0m",
    "tab\there\x00nul",
    "x" * 100_000,
)


def _sof_offset(jpeg):
    i = 2
    while i + 4 <= len(jpeg):
        marker = jpeg[i + 1]
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            return i
        i += 2 + struct.unpack(">H", jpeg[i + 2:i + 4])[0]
    raise AssertionError("no SOF")


def jpeg_bomb(width=32767, height=32767, keep_scan_bytes=16):
    """A few hundred bytes of jpeg whose header declares ``width`` x ``height``.

    A real 16x16 jpeg with its SOF dimensions rewritten and its scan data cut short: a
    decoder that trusts the header allocates the whole declared image and fills it.
    """
    img = np.full((16, 16, 3), 128, np.uint8)
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 50])
    assert ok
    data = bytearray(buf.tobytes())
    sof = _sof_offset(data)
    data[sof + 5:sof + 9] = struct.pack(">HH", height, width)
    sos = data.index(b"\xff\xda")
    sos_end = sos + 2 + struct.unpack(">H", data[sos + 2:sos + 4])[0]
    return bytes(data[:sos_end + keep_scan_bytes])


def _png_chunk(kind, payload):
    return (struct.pack(">I", len(payload)) + kind + payload
            + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF))


def png_bomb(width=20000, height=20000, rows=None, gray=True):
    """A png declaring ``width`` x ``height`` (8-bit gray, or RGB) whose IDAT holds ``rows``
    rows of zeros (default: all of them; 20000x20000 gray compresses to about 390 kB), with
    valid CRCs and an IEND. Cached: the full bomb takes a second or two to compress.
    """
    key = (width, height, rows, gray)
    if key not in _PNG_BOMBS:
        ihdr = struct.pack(">IIBBBBB", width, height, 8, 0 if gray else 2, 0, 0, 0)
        row = bytes(1 + (1 if gray else 3) * width)
        comp = zlib.compressobj(9)
        idat = b"".join(comp.compress(row) for _ in range(height if rows is None else rows))
        idat += comp.flush()
        _PNG_BOMBS[key] = (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr)
                           + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b""))
    return _PNG_BOMBS[key]


_PNG_BOMBS = {}


def encoded(bgr, ext, params=()):
    ok, buf = cv2.imencode(ext, bgr, list(params))
    assert ok, ext
    return buf.tobytes()


def other_format_frames(bgr):
    """(format field, data) of frames in formats OpenCV decodes but the node must refuse."""
    out = []
    for ext, fmt in ((".bmp", "bmp"), (".tiff", "tiff"), (".ppm", "ppm"),
                     (".webp", "webp"), (".jp2", "jp2"), (".sr", "sunraster"),
                     (".pfm", "pfm"), (".hdr", "hdr"), (".pam", "pam")):
        try:
            data = encoded(bgr if ext != ".pfm" and ext != ".hdr" else bgr.astype(np.float32),
                           ext)
        except (AssertionError, cv2.error):
            continue    # this OpenCV build cannot write it
        out.append((fmt, data))
    return out


class Fuzzer:
    """Random malformed frames, reproducible from ``seed``."""

    def __init__(self, seed, sample_bgr):
        self.rng = random.Random(seed)
        small = cv2.resize(sample_bgr, (64, 48))
        self.jpeg = encoded(small, ".jpg")
        self.progressive = encoded(small, ".jpg", [cv2.IMWRITE_JPEG_PROGRESSIVE, 1])
        self.png = encoded(small, ".png")
        self.others = other_format_frames(small)
        self.bombs = [("jpeg", jpeg_bomb()), ("jpeg", jpeg_bomb(20000, 20000)),
                      ("png", png_bomb()), ("png", png_bomb(30000, 30000, rows=10, gray=False)),
                      ("jpeg", jpeg_bomb(4097, 4096)), ("", jpeg_bomb(32767, 32767)),
                      # exactly at the default limit: decoded (about 0.1-0.2 s, +100 MB)
                      ("jpeg", jpeg_bomb(4096, 4096)), ("png", png_bomb(4096, 4096, gray=False))]

    def frame_id(self):
        r = self.rng.random()
        if r < 0.25:
            return self.rng.choice(HOSTILE_FRAME_IDS)
        if r < 0.35:
            return "".join(chr(self.rng.randrange(1, 0x3000)) for _ in range(
                self.rng.randrange(1, 300)))
        return "fuzz_cam"

    def _mutate(self, data):
        data = bytearray(data)
        how = self.rng.randrange(4)
        if how == 0:                                   # truncate
            return bytes(data[:self.rng.randrange(1, len(data))])
        if how == 1:                                   # flip bytes anywhere
            for _ in range(self.rng.randrange(1, 20)):
                data[self.rng.randrange(len(data))] = self.rng.randrange(256)
            return bytes(data)
        if how == 2:                                   # flip bytes in the header
            for _ in range(self.rng.randrange(1, 6)):
                data[self.rng.randrange(min(len(data), 200))] = self.rng.randrange(256)
            return bytes(data)
        cut = self.rng.randrange(len(data))            # splice in random bytes
        return bytes(data[:cut]) + self.rng.randbytes(self.rng.randrange(1, 500))

    def compressed(self):
        """(format field, data) of one malformed CompressedImage payload."""
        r = self.rng.random()
        if r < 0.15:
            return self.rng.choice(self.bombs)
        if r < 0.55:
            fmt, data = self.rng.choice((("jpeg", self.jpeg), ("jpeg", self.progressive),
                                         ("png", self.png)))
            return self.rng.choice((fmt, "", "rgb8; " + fmt + " compressed bgr8")), \
                self._mutate(data)
        if r < 0.7 and self.others:
            fmt, data = self.rng.choice(self.others)
            return self.rng.choice((fmt, "", "jpeg", "png")), data
        if r < 0.8:
            return self.rng.choice(("jpeg", "png", "")), self.rng.randbytes(
                self.rng.randrange(0, 3000))
        if r < 0.9:       # a format field that is itself hostile
            fmt = self.rng.choice(("jpeg\n" + FORGED_LINE, "x" * 5000,
                                   "".join(self.rng.choice("abcdefghij") for _ in range(12))))
            return fmt, self.jpeg
        return self.rng.choice(("jpeg", "png")), b""

    def raw(self):
        """(height, width, encoding, step, data) of one malformed sensor_msgs/Image."""
        rng = self.rng
        r = rng.random()
        encodings = ("bgr8", "rgb8", "mono8", "mono16", "yuv422", "bgra8")
        if r < 0.2:       # bombs: a huge declared size, tiny data
            side = rng.choice((4097, 16384, 32767, 65535, 2 ** 31 - 1, 2 ** 32 - 1))
            return side, side, rng.choice(encodings), min(side * 3, 2 ** 32 - 1), bytes(64)
        if r < 0.4:       # unknown or hostile encodings
            enc = rng.choice(("".join(rng.choice("abcdefghijklmnopqrstuvwxyz")
                                      for _ in range(rng.randrange(1, 40))),
                              "bgr8\n" + FORGED_LINE, "e" * 10000, "", "BGR8", "bayer_rggb8"))
            return 4, 4, enc, 12, bytes(48)
        h, w = rng.randrange(0, 64), rng.randrange(0, 64)
        enc = rng.choice(encodings)
        step = rng.choice((w * 3, w, w * 2, w * 4, rng.randrange(0, 400), 0))
        size = rng.choice((step * h, step * h + 1, max(step * h - 1, 0), rng.randrange(0, 5000)))
        return h, w, enc, step, rng.randbytes(size)
