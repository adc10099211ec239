"""`mckd parse`: raw sentences in, trees (or tags, for a student of a tag format) out, with an
exported student.

Imports only mckd, ctranslate2 and tokenizers (and llama-cpp-python for a GGUF student under
the tree constraint), never torch or transformers: this is how an exported student runs in a
minimal deployment.
"""

from __future__ import annotations

from pathlib import Path

from .relabel import add_compute_type, add_engine


def add_arguments(parser):
    parser.add_argument("model", metavar="MODEL_DIR", help="folder written by `mckd export`")
    parser.add_argument("file", metavar="FILE", nargs="?", default=None,
                        help="one whitespace-tokenized sentence per line (default: stdin)")
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto",
                        help="where to decode (auto: CUDA when CTranslate2 can use it)")
    parser.add_argument("--threads", type=int, default=0, help="CPU cores to use, one CTranslate2 worker each (0 = all)")
    parser.add_argument("--batch", type=int, default=256, help="sentences per batch (256)")
    parser.add_argument("--decoding", choices=["auto", "constrained", "free"], default="auto",
                        help="constrained: every output is a tree (or a tagging) of the input words "
                             "(decoder-only students of tree and tag formats; auto uses it there); "
                             "free: plain greedy")
    parser.add_argument("--with", dest="committee", metavar="MODEL_DIR", action="append",
                        default=[], help="another exported student (repeatable): the output is "
                                         "the consensus of all of them (unlabeled trees, tags)")
    parser.add_argument("--samples", type=int, default=0, metavar="N",
                        help="each student also votes N trees sampled at --vote-temperature: "
                             "self-consistency, N+1 times the decoding (unlabeled trees, tags)")
    parser.add_argument("--vote-temperature", type=float, default=0.7,
                        help="with --samples: the sampling temperature (0.7), as `mckd teach`'s")
    parser.add_argument("--seed", type=int, default=0,
                        help="with --samples: sample k of every student is drawn from seed + k; "
                             "the same seed gives the same trees")
    parser.add_argument("--vote-threshold", type=float, default=0.2,
                        help="with --with or --samples: keep a span (a word's tag) when "
                             "votes/voters > this (0.2), settling conflicts by votes "
                             "(mckd.teacher.vote)")
    parser.add_argument("--json", action="store_true",
                        help="one JSON object per input line instead of the bare tree: line, "
                             "tree (the tree or tagging), valid (false: the model's own output was "
                             "not one over the words, and tree is its repair), repaired, output (as the model "
                             "wrote it); a committee adds voters and members; a blank line "
                             "gives {\"line\": N, \"blank\": true}")
    add_engine(parser)
    add_compute_type(parser)


def _decoded(raw_lines, name: str):
    """UTF-8 text lines; a line that is not UTF-8 is refused by file:line and byte."""
    from ..errors import MckdError

    for n, raw in enumerate(raw_lines, 1):
        try:
            yield raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise MckdError(f"{name}:{n}: not UTF-8 text (byte {e.start + 1} of the line is "
                            f"{raw[e.start:e.start + 1]!r})") from None


def run(args) -> int:
    import json
    import sys

    from ..errors import MckdError
    from ..student.relabel import committee_records, parse_records

    if args.file is None:
        # stdin is read as it comes (a pipe may never end), so a bad line is found when reached
        raw_in = getattr(sys.stdin, "buffer", None)
        lines = sys.stdin if raw_in is None else _decoded(raw_in, "<stdin>")
    else:
        try:
            with open(args.file, "rb") as f:
                raw = f.read()
        except OSError as e:
            raise MckdError(f"{args.file}: cannot open ({e.strerror})") from None
        # a file is checked whole before any model is loaded
        lines = list(_decoded(raw.splitlines(), args.file))
    kw = dict(device=args.device, threads=args.threads, batch=max(1, args.batch),
              decoding=args.decoding, compute_type=args.compute_type, engine=args.engine)
    if args.samples < 0:
        raise MckdError(f"--samples must be >= 0, got {args.samples}")
    if args.committee or args.samples:
        if not 0 <= args.vote_threshold < 1:
            raise MckdError(f"--vote-threshold must be in [0, 1), got {args.vote_threshold}")
        if args.samples and not 0 < args.vote_temperature <= 10:
            raise MckdError("--vote-temperature must be in (0, 10], got "
                            f"{args.vote_temperature}")
        dirs = [args.model, *args.committee]
        seen: dict[str, str] = {}
        for d in dirs:  # allowed (a test of the vote does it), but never without a word
            key = str(Path(d).resolve())
            if key in seen:
                print(f"mckd parse: warning: {d} is the same student as {seen[key]}: it votes "
                      "twice", file=sys.stderr)
            seen.setdefault(key, d)
        recs = committee_records(dirs, lines, threshold=args.vote_threshold,
                                 samples=args.samples, temperature=args.vote_temperature,
                                 seed=args.seed, **kw)
    else:
        recs = parse_records(args.model, lines, **kw)
    n = invalid = 0
    for i, r in enumerate(recs, 1):
        if r is None:
            sys.stdout.write(json.dumps({"line": i, "blank": True}) + "\n" if args.json else "\n")
            continue
        n += 1
        invalid += not r["valid"]
        if args.json:
            row = {"line": i, "tree": r["target"], "valid": bool(r["valid"]),
                   "repaired": bool(r.get("repaired")), "output": r["output"]}
            if "voters" in r:
                row.update(voters=r["voters"], members=r["members"])
            sys.stdout.write(json.dumps(row, ensure_ascii=False) + "\n")
        else:
            sys.stdout.write(r["target"] + "\n")
    sys.stdout.flush()
    if invalid:
        print(f"mckd parse: {invalid} of {n} outputs were not a tree over the input words as the "
              "model wrote them; printed repaired" + ("" if args.json else
                                                      " (--json marks which)"), file=sys.stderr)
    return 0
