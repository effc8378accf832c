"""What a compressed frame is and how large it says it is, read from its header alone.

The node reads this before it lets a decoder near the data: a frame in a format other than
jpeg or png, or one whose header declares more pixels than allowed, is refused without
decoding, so a 333-byte "decompression bomb" costs microseconds, not gigabytes.

Pure Python on bytes; no OpenCV, no ROS.
"""

import struct

JPEG, PNG = "jpeg", "png"
FORMATS = (JPEG, PNG)
JPEG_MAGIC = b"\xff\xd8\xff"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
# Start-of-frame markers (baseline, extended, progressive, lossless, arithmetic ...):
# every SOFn except DHT (C4), JPG (C8) and DAC (CC).
_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_STANDALONE_MARKERS = frozenset(range(0xD0, 0xD8)) | {0x01}   # RSTn, TEM: no length field
_FORMAT_WORDS = {"jpeg": JPEG, "jpg": JPEG, "png": PNG}


class HeaderError(ValueError):
    """The header is missing, truncated or not what the frame claims to be."""


def sniff_format(data):
    """``'jpeg'``, ``'png'`` or None, from the magic bytes at the start of ``data``."""
    head = bytes(data[:8])
    if head.startswith(JPEG_MAGIC):
        return JPEG
    if head.startswith(PNG_MAGIC):
        return PNG
    return None


def format_from_field(field):
    """The format a sensor_msgs/CompressedImage ``format`` field names.

    Returns ``'jpeg'``, ``'png'``, ``''`` for an empty field (the caller sniffs), or None for
    anything else. image_transport writes ``jpeg``/``png`` or ``"<encoding>; jpeg compressed
    <encoding>"``; ``compressedDepth`` (a private header before the png) is not supported.
    """
    text = str(field).strip().lower()
    if not text:
        return ""
    if "compresseddepth" in text:
        return None
    words = set(text.replace(";", " ").replace(",", " ").split())
    found = {_FORMAT_WORDS[w] for w in words if w in _FORMAT_WORDS}
    return found.pop() if len(found) == 1 else None


def png_size(data):
    """(width, height) from a png's IHDR chunk, which must come first."""
    head = bytes(data[:33])
    if not head.startswith(PNG_MAGIC):
        raise HeaderError("no png signature")
    if len(head) < 24 or head[12:16] != b"IHDR":
        raise HeaderError("png has no IHDR chunk")
    width, height = struct.unpack(">II", head[16:24])
    return width, height


def jpeg_size(data, max_scan=1 << 20):
    """(width, height) from a jpeg's first start-of-frame (SOFn) segment.

    Walks the marker segments from SOI, skipping APPn/COM/DQT/... by their lengths, up to
    ``max_scan`` bytes. A height of 0 (defined later by a DNL marker) is returned as 0.
    """
    buf = memoryview(data)
    end = min(len(buf), max_scan)
    if bytes(buf[:3]) != JPEG_MAGIC:
        raise HeaderError("no jpeg SOI marker")
    pos = 2
    while pos + 4 <= end:
        if buf[pos] != 0xFF:
            raise HeaderError(f"jpeg marker expected at byte {pos}")
        marker = buf[pos + 1]
        if marker == 0xFF:          # fill byte
            pos += 1
            continue
        if marker in _STANDALONE_MARKERS:
            pos += 2
            continue
        if marker in (0xD8, 0xD9, 0xDA):   # SOI again, EOI or scan data before any SOF
            raise HeaderError("jpeg has no frame header (SOF) before its image data")
        length = (buf[pos + 2] << 8) | buf[pos + 3]
        if length < 2:
            raise HeaderError(f"jpeg segment with bad length {length}")
        if marker in _SOF_MARKERS:
            if pos + 9 > len(buf):
                break
            height = (buf[pos + 5] << 8) | buf[pos + 6]
            width = (buf[pos + 7] << 8) | buf[pos + 8]
            return width, height
        pos += 2 + length
    raise HeaderError("jpeg frame header (SOF) not found" + (
        "" if pos + 4 <= len(buf) else ": data truncated"))


def declared_size(fmt, data):
    """(width, height) that a ``fmt`` ('jpeg' or 'png') frame declares in its header."""
    return jpeg_size(data) if fmt == JPEG else png_size(data)
