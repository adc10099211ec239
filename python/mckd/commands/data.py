"""`mckd data import`: treebank -> train/dev/test JSONL splits."""

from __future__ import annotations

import sys


def add_arguments(parser):
    sub = parser.add_subparsers(dest="data_command", metavar="ACTION")
    sub.required = True
    p = sub.add_parser("import", help="read a treebank (CRAFT *.tree, PTB *.mrg) into JSONL splits")
    p.add_argument("treebank", metavar="TREEBANK_GLOB",
                   help="glob, directory or file, e.g. '../shared/data/craft/*.tree'")
    p.add_argument("--out", required=True, metavar="DIR", help="output directory")
    p.add_argument("--seed", type=int, default=0, help="seed of the split shuffle (default 0)")
    p.add_argument("--splits", default=None, metavar="TRAIN,DEV,TEST",
                   help="proportions, e.g. 50,10,40 (default: the paper's CRAFT split 50/10/40)")
    p.add_argument("--limit", type=int, default=None, help="keep only the first N trees")
    p.add_argument("--no-progress", action="store_true",
                   help="no progress bar (there is none either when stderr is not a terminal)")


def run(args) -> int:
    from ..data import import_treebank

    m = import_treebank(args.treebank, args.out, seed=args.seed, splits=args.splits,
                        limit=args.limit, progress=not args.no_progress)
    for p in m["problems"]:
        print(f"skipped: {p}", file=sys.stderr)
    counts = ", ".join(f"{k} {v['count']}" for k, v in m["outputs"].items())
    print(f"imported {m['trees_read'] - m['trees_skipped']} trees from "
          f"{len(m['source']['files'])} files ({m['trees_skipped']} malformed, skipped): "
          f"{counts} -> {args.out}")
    return 0
