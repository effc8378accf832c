"""Text from the outside world (frame_id, encoding, format, exception text), made safe to log.

Every message field that a publisher controls goes through :func:`field` before it is
logged: control and line-break characters are escaped (``\\n``, ``\\x1b``, ``\\u2028``), so
a frame_id cannot forge a log line or colour the terminal, and long values are cut, so a
1 MB frame_id cannot make a 1 MB log line. Backslashes are left alone, so escaping twice
changes nothing.
"""

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


def one_line(text, limit=TEXT_LIMIT):
    """Free text (an exception message) as one escaped line of at most about ``limit`` chars."""
    text = " ".join(str(text).split())
    return field(text, limit)
