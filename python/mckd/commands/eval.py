"""`mckd eval GOLD PRED`: score predicted trees, EVALB-exact (default) or with the paper's metric;
or, with ``--metric chunks``, predicted BIO tag sequences by conlleval's chunk F1.

With ``--metric evalb`` and no ``--json`` the standard output is byte-identical to evalb.c's
(``evalb -p PRM GOLD PRED``), and its per-sentence messages go to stderr as it prints them. Where
evalb.c would crash or stop (buffer limits, unreadable trees, more than MAX_ERROR errors) the run
still finishes; a ``mckd eval: note:`` line on stderr says where and why. See mckd.metrics.evalb for the
errors-as-zero figures that ``--json`` adds.
"""

from __future__ import annotations

import json
import sys


def add_arguments(parser):
    parser.add_argument("gold", metavar="GOLD", help="gold trees, one per line (EVALB format); "
                        "--metric chunks: tagged sentences, one per line (w1 T1 w2 T2 ...) or "
                        "CoNLL columns (token first, tag last, a blank line between sentences)")
    parser.add_argument("pred", metavar="PRED", help="predicted trees, one per line; --metric "
                        "chunks: tagged sentences as GOLD (what `mckd parse` prints for a tag "
                        "format)")
    parser.add_argument("-p", "--params", metavar="FILE.prm", default=None,
                        help="EVALB parameter file (default: COLLINS.prm's settings, built in)")
    parser.add_argument("--metric", choices=("evalb", "paper", "chunks"), default="evalb",
                        help="evalb: EVALB-exact (default); paper: the MCKD paper's mean "
                             "per-sentence unlabeled span F1; chunks: conlleval's chunk F1 of "
                             "BIO tag sequences (corpus, and the per-sentence mean)")
    parser.add_argument("--strict", action="store_true",
                        help="with --metric paper: no fix-ups; a prediction scores only if it is "
                             "one tree over exactly the gold words (none is left out)")
    parser.add_argument("--sources", metavar="FILE", default=None,
                        help="with --metric paper: the input sentences, one per line (the "
                             "authors' fix-ups look words up in them; default: the gold words)")
    parser.add_argument("--json", action="store_true",
                        help="print one JSON object instead of the report (paper: with "
                             "per_sentence scores and status)")
    parser.add_argument("--treebank", action="store_true",
                        help="trees may span several lines (PTB .mrg style): count trees, not lines")
    parser.add_argument("-c", "--cutoff-len", type=int, default=None, metavar="N",
                        help="override CUTOFF_LEN (the second summary: sentences of <= N words)")
    parser.add_argument("-e", "--max-error", type=int, default=None, metavar="N",
                        help="override MAX_ERROR (only changes where the note says evalb.c "
                             "would stop; mckd always scores everything)")
    parser.add_argument("-d", "--debug", action="count", default=None,
                        help="EVALB debug output: -d per-sentence dump (DEBUG 1), -dd also "
                             "bracket detail (DEBUG 2)")


def _require_trees(path: str, treebank: bool) -> None:
    """An empty gold file is a mistake, not a score of -nan."""
    from ..errors import MckdError
    from ..metrics.evalb import read_tree_file

    trees, _ = read_tree_file(path, treebank=treebank)
    if not trees:
        raise MckdError(f"{path}: no trees (empty file); nothing to score")


def _run_evalb(args) -> int:
    from ..metrics.evalb import evaluate, load_params

    _require_trees(args.gold, args.treebank)
    params = load_params(args.params, cutoff_len=args.cutoff_len, max_error=args.max_error,
                         debug=args.debug)
    res = evaluate(args.gold, args.pred, params, report=not args.json, treebank=args.treebank)
    if args.json:
        print(json.dumps(res.summary(), indent=2, ensure_ascii=False))
    else:
        sys.stdout.flush()
        sys.stdout.buffer.write(res.report_bytes)
        sys.stdout.buffer.flush()
        # evalb.c prints these as it goes; stdout and stderr are separate streams, so printing
        # them after the report changes nothing in either.
        err = sys.stderr
        for line in res.evalb_messages():
            err.write(line + "\n")
    for note in res.notes():
        print(f"mckd eval: note: {note}", file=sys.stderr)
    return 0


def _run_paper(args) -> int:
    from ..errors import MckdError
    from ..metrics.evalb import read_tree_file

    try:
        from ..metrics.paper import paper_f1
    except ImportError as e:  # the tree core not built in this install
        raise MckdError(f"the paper metric is not available: {e}") from None

    def text(path):
        trees, _ = read_tree_file(path, treebank=args.treebank)
        return [t.decode("utf-8", errors="replace") for t in trees]

    _require_trees(args.gold, args.treebank)
    gold, pred = text(args.gold), text(args.pred)
    if len(gold) != len(pred):
        raise MckdError(f"{args.gold} has {len(gold)} trees but {args.pred} has {len(pred)}; "
                        "the paper's metric pairs them one to one")
    sources = None
    if args.sources:
        try:
            lines = open(args.sources, encoding="utf-8").read().splitlines()
        except (OSError, UnicodeDecodeError) as e:
            raise MckdError(f"{args.sources}: cannot read the sources ({e})") from None
        sources = [x for x in lines if x.strip()]
        if len(sources) != len(gold):
            raise MckdError(f"{args.sources} has {len(sources)} sentences but {args.gold} has "
                            f"{len(gold)} trees")
    for i, g in enumerate(gold):  # name the gold tree the metric cannot read
        try:
            paper_f1([g], [g])
        except MckdError as e:
            raise MckdError(f"{args.gold}: tree {i + 1}: {str(e).split(': ', 2)[-1]}") from None
    scores = paper_f1(gold, pred, sources, strict=args.strict)
    name = "paper-strict" if args.strict else "paper"
    if args.json:
        print(json.dumps({"metric": name, "gold": args.gold, "pred": args.pred, **scores},
                         indent=2, ensure_ascii=False))
        return 0
    how = ("no fix-ups, words must equal the gold words" if args.strict
           else "as the MCKD authors' code computes it")
    print(f"{name} metric (mean per-sentence unlabeled span F1, {how}; punctuation removed by "
          "gold POS)")
    for k, v in scores.items():
        if isinstance(v, (int, float, str)):
            print(f"{k:<24}= {v:.4f}" if isinstance(v, float) else f"{k:<24}= {v}")
    return 0


def _tagged(path: str) -> list[str | None]:
    """Tagged sentences, `w1 T1 w2 T2 ...` each (None for a blank line of a one-a-line file):
    CoNLL columns by the name's suffix, else one sentence a line."""
    from pathlib import Path

    from ..errors import MckdError
    from ..seqdata import CONLL_SUFFIXES, _read_text, read_conll

    p = Path(path)
    if p.suffix.lower() in CONLL_SUFFIXES and p.suffix.lower() != ".txt":
        records, problems = read_conll(p, p.name)
        if problems:
            raise MckdError(problems[0])
        return [r["target"] for r in records]
    lines = _read_text(p).splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    return [" ".join(x.split()) or None for x in lines]


def _run_chunks(args) -> int:
    from ..errors import MckdError
    from ..metrics.text import chunk_types, tag_scores, tag_valid

    gold, pred = _tagged(args.gold), _tagged(args.pred)
    if len(gold) != len(pred):
        raise MckdError(f"{args.gold} has {len(gold)} sentences but {args.pred} has {len(pred)}; "
                        "chunk F1 pairs them one to one")
    g_t, p_t, words = [], [], []
    for i, (g, p) in enumerate(zip(gold, pred), 1):
        if g is None:  # a blank line in both (mckd parse keeps blank inputs blank)
            continue
        w = g.split()[0::2]
        if not tag_valid(g, w):
            raise MckdError(f"{args.gold}: sentence {i}: not words each followed by a BIO tag "
                            "(w1 T1 w2 T2 ...)")
        g_t.append(g)
        p_t.append(p or "")
        words.append(w)
    if not g_t:
        raise MckdError(f"{args.gold}: no tagged sentences; nothing to score")
    res = tag_scores(g_t, p_t, words)
    res.pop("chunk_f1_per_sentence")
    types = chunk_types(g_t, p_t, words)
    if args.json:
        print(json.dumps({"metric": "chunks", "gold": args.gold, "pred": args.pred, **res,
                          "types": types}, indent=2, ensure_ascii=False))
        return 0
    print(f"chunk metric (conlleval; outputs read by position, words they do not reach as O): "
          f"{res['n']} sentences, {sum(len(w) for w in words)} words, {res['invalid']} invalid "
          "outputs")
    for k in ("chunk_f1", "chunk_f1_mean", "tag_accuracy", "exact_match"):
        print(f"{k:<24}= {res[k]:.4f}")
    for t, r in types.items():
        print(f"{t:>17}: precision {r['precision']:6.2f}%; recall {r['recall']:6.2f}%; "
              f"FB1 {r['f1']:6.2f}  {r['predicted']}")
    return 0


def run(args) -> int:
    if args.metric == "paper":
        return _run_paper(args)
    if args.metric == "chunks":
        return _run_chunks(args)
    return _run_evalb(args)
