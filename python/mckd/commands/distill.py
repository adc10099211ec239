"""`mckd distill`: the whole MCKD pipeline, resumable, with baselines and a results table."""

from __future__ import annotations

from pathlib import Path

from ..config import DEVICES, FORMATS, PRESETS


def add_arguments(parser):
    from ..teacher.models import teacher_model_help

    parser.add_argument("--local-teacher", metavar="MODEL.gguf", default=None,
                        help=teacher_model_help())
    parser.add_argument("--teacher-url", metavar="URL", default=None,
                        help="an OpenAI-compatible completions server as the teacher (llama.cpp "
                             "server, vLLM); key from $MCKD_TEACHER_API_KEY; more settings: "
                             "teacher.concurrency, teacher.grammar, teacher.server_model")
    parser.add_argument("--data", required=True, metavar="DATA_DIR",
                        help="directory written by `mckd data import` (train.jsonl, test.jsonl)")
    parser.add_argument("--labeled", type=int, default=None, help="number of gold examples")
    parser.add_argument("--stages", type=int, default=None, help="N-stage MCKD (1 = vanilla KD)")
    parser.add_argument("--out", required=True, metavar="RUN_DIR", help="run directory")
    parser.add_argument("--config", metavar="FILE.toml", default=None, help="TOML config file")
    parser.add_argument("--preset", choices=list(PRESETS), default=None,
                        help="demo: CPU-sized; paper: the paper's settings")
    parser.add_argument("--format", default=None, choices=FORMATS,
                        help="the output format (format=; default unlabeled): see docs/data.md")
    parser.add_argument("--seed", type=int, default=None,
                        help="the run's seed (seed=; default 0): every random choice derives "
                             "from it")
    parser.add_argument("--init", default=None, metavar="MODEL",
                        help="every student fine-tunes this pretrained model: an HF seq2seq or "
                             "causal-LM folder, a .gguf file or a packaged GGUF short name")
    parser.add_argument("--device", default=None, choices=DEVICES,
                        help="where students train and relabel")
    parser.add_argument("--plan", action="store_true",
                        help="run nothing: print the steps these settings would run first, and "
                             "why (not run yet, unfinished, or which input or setting changed)")
    parser.add_argument("--only", default=None, metavar="STEP[,STEP...]",
                        help="run only these model steps (named as in RUN_DIR/steps/, e.g. "
                             "s1_A,final_0); other missing ones are skipped, done ones reused. "
                             "To share a run between processes or machines: each works on its "
                             "own copy of the run directory, then the step folders are copied "
                             "into one")
    parser.add_argument("overrides", nargs="*", metavar="key=value",
                        help="any config key, e.g. teacher.shots=10 student.epochs=30")


def _remove_if_empty(root: Path) -> None:
    """Remove `root` when it holds nothing but the lock file and empty folders."""
    import shutil

    try:
        files = [p for p in root.rglob("*") if not p.is_dir() and p.name != ".lock"]
    except OSError:
        return
    if not files:
        shutil.rmtree(root, ignore_errors=True)


def _plan(cfg, args) -> int:
    """--plan: walk the pipeline without running or writing anything."""
    from ..pipeline.distiller import Distiller

    if not Path(args.out).exists():
        print(f"mckd distill --plan: {args.out} does not exist: a new run, every step runs")
        return 0
    steps = Distiller(cfg, args.data, args.out, log=lambda s: None).explain()
    if not steps:
        print(f"mckd distill --plan: nothing to run: every step of these settings is done in "
              f"{args.out}")
        return 0
    print(f"mckd distill --plan: {len(steps)} step(s) would run first in {args.out} (each "
          "starts its branch of the pipeline: the steps after it follow):")
    width = max(len(n) for n, _ in steps)
    for name, why in steps:
        print(f"  {name:<{width}}  {why}")
    return 0


def run(args) -> int:
    from ..config import load_config
    from ..data import check_data_dir
    from ..pipeline.distiller import distill
    from ..pipeline.report import table

    # Everything that can be checked is checked before the first step (and before the teacher
    # spends minutes): settings, the data evaluation will need, and where the run may write.
    cfg = load_config(args.preset, args.config, args.overrides, flags={
        "teacher.model": args.local_teacher, "teacher.url": args.teacher_url,
        "data.labeled": args.labeled,
        "stages": args.stages, "format": args.format, "seed": args.seed,
        "student.init": args.init, "student.device": args.device,
    })
    check_data_dir(args.data, cfg.format, cfg.data.labeled)
    if args.plan:
        return _plan(cfg, args)
    # --out is checked and locked once, where the run directory is opened (RunDir): a second
    # `mckd distill` into this --out fails there, before it writes anything
    new_dir = not Path(args.out).exists()
    only = None if args.only is None else {n.strip() for n in args.only.split(",") if n.strip()}
    try:
        results = distill(cfg, args.data, args.out, only=only)
    except BaseException:
        if new_dir:  # a run refused before it wrote anything leaves no folder behind
            _remove_if_empty(Path(args.out))
        raise
    print(table(results), end="")
    return 0
