"""The `mckd` command: a thin dispatcher over python/mckd/commands/*.

Each command module defines `add_arguments(parser)` and `run(args) -> int` and imports its heavy
dependencies inside `run`, so that building the parser (and `mckd parse` in a torch-free
deployment) stays light.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from .errors import MckdError

# name -> (module under mckd.commands, one-line help)
COMMANDS = {
    "data": ("data", "import a treebank into train/dev/test JSONL splits"),
    "eval": ("eval", "score predicted trees against gold (EVALB-exact or the paper's metric)"),
    "teach": ("teach", "pseudolabel inputs with a few-shot prompted local GGUF LLM"),
    "train": ("train", "train a student (seq2seq or decoder-only) on (pseudo)labeled JSONL"),
    "export": ("export", "convert a trained student to CTranslate2 for fast inference"),
    "relabel": ("relabel", "label JSONL inputs with an exported student (batched, resumable)"),
    "parse": ("parse", "parse raw sentences with an exported student (no torch needed)"),
    "distill": ("distill", "run the whole MCKD pipeline"),
    "report": ("report", "print the results table of a (partial) distill run"),
    "cache": ("cache", "see and prune the shared teacher cache"),
}


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="mckd", description="Distill a few-shot local LLM into a fast seq2seq student (MCKD).")
    parser.add_argument("--version", action="version", version=f"mckd {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name, (modname, help_) in COMMANDS.items():
        mod = importlib.import_module(f"mckd.commands.{modname}")
        p = sub.add_parser(name, help=help_, description=help_)
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:
        # argparse gives a `key=value ...` positional only the run of them before the first
        # option; ones after an option (`... batch_size=16 --seed 1 lr=1e-4`) are overrides too
        if hasattr(args, "overrides") and all("=" in x and not x.startswith("-") for x in extra):
            args.overrides = list(args.overrides or []) + extra
        else:
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        rc = args._run(args)
    except MckdError as e:
        print(f"mckd {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"mckd {args.command}: interrupted; finished work is kept, re-run to resume",
              file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except OSError as e:
        if e.filename is None:  # not about a path the user gave: a bug, keep the traceback
            raise
        # a path problem no command foresaw (permissions, a full disk): still one line
        where = f"{e.filename} -> {e.filename2}" if e.filename2 else e.filename
        print(f"mckd {args.command}: error: {where}: {e.strerror}", file=sys.stderr)
        return 2
    return int(rc or 0)


if __name__ == "__main__":
    sys.exit(main())
