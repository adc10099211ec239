"""`mckd train`: train a student (seq2seq or decoder-only) on (pseudo)labeled JSONL (resumable; torchrun-aware)."""

from __future__ import annotations

from ..formats import FORMATS


def add_arguments(parser):
    parser.add_argument("--train", required=True, metavar="LABELS.jsonl",
                        help="records with words/source and target (or targets[format])")
    parser.add_argument("--out", required=True, metavar="STUDENT_DIR",
                        help="output folder (HF checkpoint + tokenizer + mckd_student.json); "
                             "re-running resumes from its last epoch checkpoint")
    g = parser.add_mutually_exclusive_group()
    g.add_argument("--init", metavar="MODEL", default=None,
                   help="fine-tune a pretrained model: a local HF seq2seq checkpoint (T5/BART), "
                        "a local HF causal-LM folder, a .gguf file or a packaged GGUF short "
                        "name (smollm2, qwen2.5-coder-0.5b, ...)")
    g.add_argument("--arch", metavar="NAME", default=None,
                   help="from-scratch config: t5-micro (CPU default), t5-tiny, t5-mini, "
                        "t5-small (GPU), t5-base")
    parser.add_argument("--dev", metavar="LABELED.jsonl", default=None,
                        help="held-out labeled records (e.g. the gold examples) for stop=dev: "
                             "each epoch is scored on them and the best epoch's weights are kept")
    parser.add_argument("--format", choices=FORMATS, default="unlabeled",
                        help="output format (default: unlabeled)")
    parser.add_argument("--epochs", type=int, default=None, help="epochs (default: auto)")
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto",
                        help="where to train (auto: CUDA when there is a GPU)")
    parser.add_argument("--seed", type=int, default=0, help="init / batch-order seed (0)")
    parser.add_argument("--limit", type=int, default=None, help="use only the first N records")
    parser.add_argument("--no-progress", action="store_true",
                        help="no progress bar (there is none either when stderr is not a terminal)")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE",
                        help="any TrainConfig field, e.g. lr=1e-3 batch_size=16 stop=fidelity")


def build_config(args):
    """The TrainConfig the command line asks for (flags first, then key=value overrides)."""
    from ..student.config import TrainConfig, apply_overrides

    cfg = TrainConfig(format=args.format, device=args.device, seed=args.seed)
    if args.init:
        cfg.init = args.init
    if args.arch:
        cfg.arch = args.arch
    if args.epochs is not None:
        cfg.epochs = args.epochs
    if args.no_progress:
        cfg.progress = False
    return apply_overrides(cfg, list(args.overrides or []))


def run(args) -> int:
    from ..errors import MckdError
    from ..jsonio import check_out_path, read_jsonl
    from ..student.train import train_student

    check_out_path(args.out, "dir")
    cfg = build_config(args)
    recs = read_jsonl(args.train)
    if args.limit is not None:
        if args.limit < 1:
            raise MckdError(f"--limit must be >= 1, got {args.limit}")
        recs = recs[:args.limit]
    if not recs:
        raise MckdError(f"{args.train}: no training records (empty file)")
    dev = None
    if args.dev:
        if cfg.stop != "dev":
            raise MckdError(f"--dev {args.dev}: used only with stop=dev (got stop={cfg.stop})")
        dev = read_jsonl(args.dev)
        if not dev:
            raise MckdError(f"{args.dev}: no dev records (empty file)")
    train_student(recs, args.out, cfg, dev_records=dev)
    return 0
