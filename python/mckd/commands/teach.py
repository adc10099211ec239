"""`mckd teach`: pseudolabel inputs with a few-shot prompted LLM, local GGUF or server (resumable)."""

from __future__ import annotations


# The teacher settings' flags are generated from their one declaration (mckd.config
# TeacherSettings: type, default, choices, help); these keep the names they always had.
RENAME = {"url": "--teacher-url", "timeout_s": "--timeout"}
NEGATE = {"constrained": "--unconstrained"}
METAVAR = {"url": "URL", "api_key_env": "VAR", "vote_demo_words": "LO-HI",
           "max_broken": "SHARE", "instruction": "TEXT|@FILE"}


def add_arguments(parser):
    from ..config import TeacherSettings
    from ..flags import add_flags
    from ..formats import FORMATS
    from ..teacher.models import teacher_model_help

    parser.add_argument("--local-teacher", metavar="MODEL.gguf", default=None,
                        help=teacher_model_help())
    parser.add_argument("--demos", required=True, metavar="LABELED.jsonl",
                        help="gold demonstrations (dataset records: source + targets[format])")
    parser.add_argument("--input", required=True, metavar="UNLABELED.jsonl",
                        help="records with id and source/words")
    parser.add_argument("--out", required=True, metavar="TEACHER.jsonl",
                        help="output pseudolabels (a .cache.jsonl beside it keeps progress)")
    parser.add_argument("--format", choices=FORMATS,
                        default="unlabeled", help="output format (default: unlabeled; chunks and basenp "
                        "are BIO tags, derived from the gold trees of treebank records)")
    parser.add_argument("--seed", type=int, default=0, help="demo selection / sampling seed")
    parser.add_argument("--temperature", type=float, default=0.0,
                        help="0 = greedy (default); > 0 samples, seeded per input")
    parser.add_argument("--demo-words", default="", metavar="LO-HI",
                        help="only gold examples of LO to HI words are demonstrations")
    parser.add_argument("--max-new-tokens", type=int, default=0,
                        help="output token limit (0 = from the demonstrations)")
    parser.add_argument("--limit", type=int, default=None, help="label only the first N inputs")
    parser.add_argument("--no-shared-cache", action="store_true",
                        help="neither read nor write the shared teacher cache (see `mckd cache`; "
                             "MCKD_TEACHER_CACHE=off does the same for every command)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    g = parser.add_argument_group("teacher settings (as teacher.NAME in `mckd distill`)")
    parser.set_defaults(_settings=add_flags(g, TeacherSettings, "teacher", rename=RENAME,
                                            negate=NEGATE, metavar=METAVAR))


def run(args) -> int:
    import sys
    from pathlib import Path

    from ..errors import MckdError
    from ..jsonio import check_out_path, read_jsonl
    from ..flags import settings_from
    from ..teacher import TeacherConfig, run_teacher
    from ..teacher.run import summary_line

    check_out_path(args.out, "file")  # before the teacher spends minutes, not after
    demos = read_jsonl(args.demos)
    inputs = read_jsonl(args.input)
    if args.limit is not None:
        if args.limit < 0:
            raise MckdError(f"--limit must be >= 0, got {args.limit}")
        inputs = inputs[:args.limit]
    instruction = args.instruction
    if instruction.startswith("@"):
        try:
            instruction = Path(instruction[1:]).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise MckdError(f"--instruction {args.instruction}: cannot read it ({e})") from None
    args.instruction = instruction
    cfg = settings_from(args, TeacherConfig, args._settings, format=args.format, seed=args.seed,
                        temperature=args.temperature, max_new_tokens=args.max_new_tokens,
                        progress=not args.no_progress, shared_cache=not args.no_shared_cache,
                        demo_words=args.demo_words)
    if args.url and args.local_teacher:
        raise MckdError("give --local-teacher or --teacher-url, not both")
    s = run_teacher(args.local_teacher, demos, inputs, args.out, cfg)
    if args.no_progress:  # with progress on, run_teacher already printed this line
        print(summary_line(s), file=sys.stderr)
    return 0
