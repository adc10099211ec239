"""Setting values written as text: a command-line string as a field's type, and a "LO-HI"
word band. The lowest layer of the settings (mckd.config, the trainer's and the teacher's
settings all read it), so that none of them imports another to parse a value."""

from __future__ import annotations

from typing import Any

from .errors import MckdError


def coerce(value: str, target_type: Any, key: str) -> Any:
    """A command-line string as the field's type, or a one-line error naming the key."""
    if target_type is bool or isinstance(target_type, bool):
        low = value.lower()
        if low in ("1", "true", "yes", "on"):
            return True
        if low in ("0", "false", "no", "off"):
            return False
        raise MckdError(f"{key}: expected true/false, got {value!r}")
    if target_type is int:
        try:
            return int(value)
        except ValueError:
            raise MckdError(f"{key}: expected an integer, got {value!r}") from None
    if target_type is float:
        try:
            return float(value)
        except ValueError:
            raise MckdError(f"{key}: expected a number, got {value!r}") from None
    return value


def word_band(spec: str, what: str = "demo_words") -> tuple[int, int]:
    """(lo, hi) of a "LO-HI" word-count band, or a one-line error naming `what`."""
    lo, sep, hi = spec.partition("-")
    try:
        band = (int(lo), int(hi)) if sep else None
    except ValueError:
        band = None
    if band is None or not 1 <= band[0] <= band[1]:
        raise MckdError(f"{what} {spec!r}: expected LO-HI words, e.g. 20-30 (1 <= LO <= HI)")
    return band
