"""`mckd report RUN_DIR`: reprint the results table of a finished or partial run.

Only steps done under the fingerprints of the run's current config (manifest.json) are shown:
the pipeline is walked plan-only (nothing runs), so rows of switched-off baselines or of
earlier settings never appear, and `complete` means every step the config needs is done.
"""

from __future__ import annotations


def add_arguments(parser):
    parser.add_argument("run_dir", metavar="RUN_DIR", help="the --out of a mckd distill run")
    parser.add_argument("--json", action="store_true", help="print results.json instead")
    parser.add_argument("--predictions", metavar="DIR", default=None,
                        help="also write DIR/<row>.jsonl (id and raw output of every test "
                             "sentence) for each reported row")


def run(args) -> int:
    import json
    from pathlib import Path

    from ..pipeline.compat import config_from_manifest
    from ..errors import MckdError
    from ..jsonio import read_json
    from ..pipeline.distiller import Distiller
    from ..pipeline.report import write_predictions, write_reports

    root = Path(args.run_dir)
    if not (root / "manifest.json").exists():
        raise MckdError(f"{root}: not an mckd run directory (no manifest.json)")
    m = read_json(root / "manifest.json")
    cfg = config_from_manifest(m["config"])
    d = Distiller(cfg, m["data_dir"], root, log=lambda s: None)
    results = d.collect()
    results["config"] = m["config"]
    md = write_reports(root, results)
    if args.predictions:
        write_predictions(root, results, args.predictions)
    if results.get("missing"):
        import sys

        print(f"mckd report: {len(results['missing'])} step(s) of the current settings not done "
              f"(first: {results['missing'][0]}); their rows are left out", file=sys.stderr)
    print(json.dumps(results, indent=2) if args.json else md, end="" if not args.json else "\n")
    return 0

