"""Text from seed files, pages and servers made safe to print: control characters shown escaped."""

from __future__ import annotations

import re

# C0 controls but the tab (the column separator of the CLI's tables), DEL, C1 controls, and the
# characters that reorder or break a terminal line (bidi overrides and isolates, line separators).
_UNSAFE = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_NAMED = {"\n": "\\n", "\r": "\\r"}


def printable(text: str) -> str:
    """text with newlines, escape sequences and other control characters written as \\n, \\x1b, \\u202e."""
    return _UNSAFE.sub(_escaped, text)


def _escaped(match: re.Match[str]) -> str:
    """One unsafe character as a backslash escape."""
    char = match.group()
    code = ord(char)
    return _NAMED.get(char) or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
