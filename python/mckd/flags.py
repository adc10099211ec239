"""Command-line flags generated from a settings dataclass: each field's type, default, choices
(mckd.config.CHOICES) and help (the comment it is declared with, mckd.configdoc) are declared
once, on the field. A command adds the flags of the settings it takes and builds the dataclass
back from the parsed arguments."""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any


def add_flags(parser: argparse.ArgumentParser, cls, section: str, *,
              rename: dict[str, str] | None = None,
              negate: dict[str, str] | None = None,
              metavar: dict[str, str] | None = None,
              skip: tuple[str, ...] = ()) -> list[str]:
    """Add one flag per field of `cls` (`--field-name`, or `rename[field]`); a true-by-default
    boolean in `negate` becomes that store-false flag. `section` ("teacher") names the fields'
    keys in mckd.config.CHOICES. Returns the field names added (the `dest` of each flag)."""
    from .config import CHOICES
    from .configdoc import helps as field_helps

    helps = field_helps(cls)
    rename, negate, metavar = rename or {}, negate or {}, metavar or {}
    names = []
    for f in dataclasses.fields(cls):
        if f.name in skip:
            continue
        default = f.default
        help_ = helps.get(f.name, "")
        if f.name in negate:
            parser.add_argument(negate[f.name], dest=f.name, action="store_false",
                                help=f"turn off the default: {help_}" if help_ else None)
            names.append(f.name)
            continue
        flag = rename.get(f.name, "--" + f.name.replace("_", "-"))
        typ = {"int": int, "float": float, "str": str, "bool": _bool}.get(
            f.type if isinstance(f.type, str) else getattr(f.type, "__name__", ""), str)
        kw: dict[str, Any] = dict(dest=f.name, type=typ, default=default)
        choices = CHOICES.get(f"{section}.{f.name}")
        if choices:
            kw["choices"] = choices
        if f.name in metavar:
            kw["metavar"] = metavar[f.name]
        shown = "" if default in ("", None) else f" (default: {default})"
        kw["help"] = (help_ + shown) if help_ else None
        parser.add_argument(flag, **kw)
        names.append(f.name)
    return names


def _bool(value: str) -> bool:
    from .errors import MckdError
    from .values import coerce

    try:
        return coerce(value, bool, "flag")
    except MckdError as e:
        raise argparse.ArgumentTypeError(str(e).removeprefix("flag: ")) from None


def settings_from(args: argparse.Namespace, cls, names: list[str], **extra) -> Any:
    """`cls` built from the parsed flags `names` (as add_flags returned them) and `extra`."""
    return cls(**{n: getattr(args, n) for n in names}, **extra)
