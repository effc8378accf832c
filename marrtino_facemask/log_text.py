r"""Text from the outside world (frame_id, encoding, format, exception text), made safe to log.

Every message field that a publisher controls goes through :func:`field` before it is
logged: control and line-break characters are escaped (``\n``, ``\x1b``, ``\u2028``), so
a frame_id cannot forge a log line or colour the terminal, and long values are cut, so a
1 MB frame_id cannot make a 1 MB log line. Backslashes are left alone, so escaping twice
changes nothing.
"""

import re
import time
import unicodedata

FIELD_LIMIT = 64          # characters kept of a message field (frame_id, encoding, format)
TEXT_LIMIT = 300          # characters kept of a free text (an exception's message)
_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape_char(ch):
    if ch in _ESCAPES:
        return _ESCAPES[ch]
    # Cc: C0/C1 controls and DEL; Cf: format characters (bidi overrides, zero-width ...);
    # Zl/Zp: U+2028/U+2029, line breaks for some terminals and log viewers
    if unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp", "Cs"):
        code = ord(ch)
        return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
    return ch


def escape(text):
    """``text`` with every control/format/line-break character escaped (one printable line)."""
    text = str(text)
    if text.isprintable():
        return text
    return "".join(_escape_char(ch) for ch in text)


def field(value, limit=FIELD_LIMIT):
    """A message field for a log line: escaped, cut to ``limit`` characters (with the length)."""
    text = str(value)
    if len(text) > limit:
        return f"{escape(text[:limit])}...({len(text)} chars)"
    return escape(text)


def without_source_locations(text):
    """Rcl's error text without the C source locations it appends (", at /path/file.c:271"),
    which tell a user nothing.
    """
    return re.sub(r",? at /\S+?\.\w+:\d+", "", str(text))


def one_line(text, limit=TEXT_LIMIT):
    """Free text (an exception message) as one escaped line of at most about ``limit`` chars."""
    text = " ".join(str(text).split())
    return field(text, limit)


class Throttle:
    """At most one message per key and period; counts what it held back.

    Keys come from a fixed set (``keys``); any other key counts as ``"other"``, so the
    throttle's memory and the number of distinct warnings per period stay bounded whatever
    the frames contain. (rclpy's ``throttle_duration_sec`` throttles per call site and
    cannot say how many lines it held back, hence this.)
    """

    def __init__(self, period_s, keys=()):
        self.period_s = period_s
        self.keys = frozenset(keys) | {"other"}
        self._last = {}
        self._held = {}

    def __call__(self, key):
        """Return None to stay silent, else how many messages were held back since the last."""
        if key not in self.keys:
            key = "other"
        now = time.monotonic()
        last = self._last.get(key)
        if last is not None and now - last < self.period_s:
            self._held[key] = self._held.get(key, 0) + 1
            return None
        self._last[key] = now
        return self._held.pop(key, 0)
