"""`mckd parse`: raw sentences in, trees out, with an exported student.

Imports only mckd, ctranslate2 and tokenizers (and llama-cpp-python for a GGUF student under
the tree constraint), never torch or transformers: this is how an exported student runs in a
minimal deployment.
"""

from __future__ import annotations

from .relabel import add_compute_type, add_engine


def add_arguments(parser):
    parser.add_argument("model", metavar="MODEL_DIR", help="folder written by `mckd export`")
    parser.add_argument("file", metavar="FILE", nargs="?", default=None,
                        help="one whitespace-tokenized sentence per line (default: stdin)")
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    parser.add_argument("--threads", type=int, default=0, help="CPU cores to use, one CTranslate2 worker each (0 = all)")
    parser.add_argument("--batch", type=int, default=256, help="sentences per batch (256)")
    parser.add_argument("--decoding", choices=["auto", "constrained", "free"], default="auto",
                        help="constrained: every output is a tree over the input words (decoder-only "
                             "students of tree formats; auto uses it there); free: plain greedy")
    parser.add_argument("--with", dest="committee", metavar="MODEL_DIR", action="append",
                        default=[], help="another exported student (repeatable): the output is "
                                         "the consensus tree of all of them (unlabeled format)")
    parser.add_argument("--samples", type=int, default=0, metavar="N",
                        help="each student also votes N trees sampled at --vote-temperature: "
                             "self-consistency, N+1 times the decoding (unlabeled format)")
    parser.add_argument("--vote-temperature", type=float, default=0.7,
                        help="with --samples: the sampling temperature (0.7), as `mckd teach`'s")
    parser.add_argument("--seed", type=int, default=0,
                        help="with --samples: sample k of every student is drawn from seed + k; "
                             "the same seed gives the same trees")
    parser.add_argument("--vote-threshold", type=float, default=0.2,
                        help="with --with or --samples: keep a span when votes/voters > this "
                             "(0.2), settling conflicts by votes (mckd.teacher.vote)")
    add_engine(parser)
    add_compute_type(parser)


def run(args) -> int:
    import sys

    from ..errors import MckdError
    from ..student.relabel import parse_committee, parse_lines

    if args.file is None:
        lines = sys.stdin
        src = None
    else:
        try:
            src = open(args.file, encoding="utf-8")
        except OSError as e:
            raise MckdError(f"{args.file}: cannot open ({e.strerror})") from None
        lines = src
    try:
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
            trees = parse_committee([args.model, *args.committee], lines,
                                    threshold=args.vote_threshold, samples=args.samples,
                                    temperature=args.vote_temperature, seed=args.seed, **kw)
        else:
            trees = parse_lines(args.model, lines, **kw)
        for tree in trees:
            sys.stdout.write(tree + "\n")
        sys.stdout.flush()
    except UnicodeDecodeError as e:
        raise MckdError(f"{args.file or '<stdin>'}: not UTF-8 text ({e})") from None
    finally:
        if src is not None:
            src.close()
    return 0
