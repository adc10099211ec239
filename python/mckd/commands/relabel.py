"""`mckd relabel`: label JSONL inputs with an exported student (batched, resumable)."""

from __future__ import annotations

COMPUTE_TYPES = ("default", "auto", "int8", "int8_float32", "int8_float16", "int8_bfloat16",
                 "int16", "float16", "bfloat16", "float32")


def add_arguments(parser):
    parser.add_argument("model", metavar="MODEL_DIR", help="folder written by `mckd export`")
    parser.add_argument("--input", required=True, metavar="INPUTS.jsonl",
                        help="records with id and words (or source)")
    parser.add_argument("--out", required=True, metavar="LABELS.jsonl",
                        help="output; progress is kept in LABELS.jsonl.partial until done")
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto",
                        help="where to decode (auto: CUDA when CTranslate2 can use it)")
    parser.add_argument("--threads", type=int, default=0, help="CPU cores to use, one CTranslate2 worker each (0 = all)")
    parser.add_argument("--max-batch-tokens", type=int, default=4096,
                        help="source tokens per CT2 batch (4096)")
    parser.add_argument("--limit", type=int, default=None, help="label only the first N inputs")
    parser.add_argument("--chunk", type=int, default=512, metavar="N",
                        help="most sentences decoded and written at once (512; chunks start at "
                             "16 and double): an interrupt loses at most the chunk in progress, "
                             "so lower it for a slow student")
    parser.add_argument("--decoding", choices=["auto", "constrained", "free"], default="auto",
                        help="constrained: every output is a tree over the input words (decoder-only "
                             "students of tree formats; auto uses it there); free: plain greedy")
    add_engine(parser)
    add_compute_type(parser)
    parser.add_argument("--temperature", type=float, default=0.0,
                        help="0 (default): greedy; above 0: one pass sampled at this temperature "
                             "(--seed reproduces it: one CTranslate2 worker, or on llama.cpp a "
                             "seed per sentence from --seed and its id)")
    parser.add_argument("--seed", type=int, default=0, help="with --temperature: the sample's seed")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def add_engine(parser):
    """--engine, shared with `mckd parse`."""
    parser.add_argument("--engine", choices=["auto", "ctranslate2", "llama.cpp"], default="auto",
                        help="who decodes under the tree constraint: auto = llama.cpp where "
                             "the model folder has model.gguf (decoder-only students exported "
                             "with llama-cpp-python installed) and llama-cpp-python is "
                             "installed, else CTranslate2; free decoding is always CTranslate2's")


def add_compute_type(parser):
    """--compute-type, shared with `mckd parse`."""
    parser.add_argument("--compute-type", default="default", choices=COMPUTE_TYPES,
                        help="CTranslate2 compute type (default: the model's quantization). "
                             "float32 makes each output independent of the sentences batched "
                             "with it, which int8 is not; it decodes slower")


def run(args) -> int:
    import json
    import sys

    from ..errors import MckdError
    from ..jsonio import check_out_path, read_jsonl
    from ..student.relabel import relabel

    check_out_path(args.out, "file")
    recs = read_jsonl(args.input)
    if args.limit is not None:
        recs = recs[:max(0, args.limit)]
    if not recs:
        raise MckdError(f"{args.input}: no input records (empty file)")
    if args.chunk < 1:
        raise MckdError(f"--chunk {args.chunk}: expected at least 1 sentence")
    from ..locks import cache_lock, exclusive

    # one writer per output (OUT.lock beside it, as the teacher's cache takes): a second
    # relabel into the same --out fails at once instead of resuming from the first's partial
    # file (inside `mckd distill` the run directory's lock does this)
    with exclusive(cache_lock(args.out), "relabel output", args.out):
        s = relabel(args.model, recs, args.out, device=args.device, threads=args.threads,
                    max_batch_tokens=args.max_batch_tokens, chunk=args.chunk,
                    progress=not args.no_progress,
                    decoding=args.decoding, compute_type=args.compute_type,
                    temperature=args.temperature, seed=args.seed, engine=args.engine)
    print(f"labelled {s['n']} records -> {args.out} ({s['resumed']} resumed, {s['repaired']} "
          f"repaired, {s['cut']} cut; {s['sentences_per_s']} sent/s, {s['engine']})", file=sys.stderr)
    print(json.dumps(s))
    return 0
