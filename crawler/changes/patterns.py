"""Configured regular expressions (noise to ignore, takedown notices, not-found wording): one check for all."""

from __future__ import annotations

import re
from typing import Sequence


def check_pattern(pattern: str) -> re.Pattern[str]:
    """Compile a configured pattern; ValueError with a one-line reason if it is unusable."""
    try:
        compiled = re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"{pattern!r} is not a regular expression ({exc})") from None
    if compiled.search("") is not None:
        # It would match everywhere: every text would compare equal (noise), every page be removed (notices).
        raise ValueError(f"{pattern!r} matches the empty string; it would match every page")
    return compiled


def check_patterns(patterns: Sequence[str]) -> None:
    """Raise ValueError naming the first pattern that check_pattern refuses."""
    for pattern in patterns:
        check_pattern(pattern)
