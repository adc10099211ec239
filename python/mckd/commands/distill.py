"""`mckd distill`: the whole MCKD pipeline, resumable, with baselines and a results table."""

from __future__ import annotations


def add_arguments(parser):
    parser.add_argument("--local-teacher", metavar="MODEL.gguf", default=None,
                        help="GGUF teacher model, or a packaged short name (default: smollm2)")
    parser.add_argument("--data", required=True, metavar="DATA_DIR",
                        help="directory written by `mckd data import` (train.jsonl, test.jsonl)")
    parser.add_argument("--labeled", type=int, default=None, help="number of gold examples")
    parser.add_argument("--stages", type=int, default=None, help="N-stage MCKD (1 = vanilla KD)")
    parser.add_argument("--out", required=True, metavar="RUN_DIR", help="run directory")
    parser.add_argument("--config", metavar="FILE.toml", default=None, help="TOML config file")
    parser.add_argument("--preset", choices=["demo", "paper"], default=None,
                        help="demo: CPU-sized; paper: the paper's settings")
    parser.add_argument("--format", default=None,
                        choices=["unlabeled", "labeled", "skeleton", "text"])
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--init", default=None, metavar="HF_DIR",
                        help="fine-tune this local HF seq2seq checkpoint for every student")
    parser.add_argument("--device", default=None, choices=["auto", "cpu", "cuda"],
                        help="where students train and relabel")
    parser.add_argument("overrides", nargs="*", metavar="key=value",
                        help="any config key, e.g. teacher.shots=10 student.epochs=30")


def run(args) -> int:
    from ..config import load_config
    from ..pipeline import distill
    from ..report import table

    cfg = load_config(args.preset, args.config, args.overrides, flags={
        "teacher.model": args.local_teacher, "data.labeled": args.labeled,
        "stages": args.stages, "format": args.format, "seed": args.seed,
        "student.init": args.init, "student.device": args.device,
    })
    results = distill(cfg, args.data, args.out)
    print(table(results), end="")
    return 0
