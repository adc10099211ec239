"""`mckd data import`: a treebank, CoNLL tag columns or JSONL records -> train/dev/test JSONL."""

from __future__ import annotations

import sys


def add_arguments(parser):
    sub = parser.add_subparsers(dest="data_command", metavar="ACTION")
    sub.required = True
    p = sub.add_parser("import", help="read a treebank (CRAFT *.tree, PTB *.mrg), tag sequences "
                                      "in CoNLL columns or JSONL records into JSONL splits")
    p.add_argument("treebank", metavar="FILES",
                   help="glob, directory or file, e.g. '../shared/data/craft/*.tree'; "
                        "docs/data.md has the formats")
    p.add_argument("--input-format", choices=["auto", "treebank", "conll", "jsonl"],
                   default="auto",
                   help="auto (by suffix: .tree/.mrg treebank, .jsonl JSONL, .conll/.bio/.iob/"
                        ".tsv/.txt CoNLL columns) or one of them for every file")
    p.add_argument("--tag-column", type=int, default=-1, metavar="N",
                   help="CoNLL: the tag's column, from 0 (default -1: the last)")
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
                        limit=args.limit, progress=not args.no_progress,
                        input_format=args.input_format, tag_column=args.tag_column)
    for p in m["problems"]:
        print(f"skipped: {p}", file=sys.stderr)
    counts = ", ".join(f"{k} {v['count']}" for k, v in m["outputs"].items())
    kinds = {f.get("format", "treebank") for f in m["source"]["files"]}
    what = "trees" if kinds == {"treebank"} else "records"
    print(f"imported {m['trees_read'] - m['trees_skipped']} {what} from "
          f"{len(m['source']['files'])} files ({m['trees_skipped']} malformed, skipped): "
          f"{counts} -> {args.out}")
    return 0
