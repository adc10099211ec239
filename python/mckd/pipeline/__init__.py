"""`mckd distill` and its run directory.

    from mckd.pipeline import distill
    results = distill(DistillConfig(stages=3), "data/craft", "runs/craft")

Modules:
    steps      the steps' names, kinds and seeds, declared once
    rows       the rows a run reports
    distiller  the MCKD steps and the walk over them
    scores     every current label step against the held-back gold
    identity   the teacher's and the student init's content hashes
    manifest   manifest.json: config, seeds, versions, invocations
    votes      the stage vote and the committee over label files (no model runs)
    rundir     a run directory of fingerprinted, atomically finished steps, and its lock
    report     results.json, results.md and the plot from the finished steps
    parallel   one run split over processes (GPU training beside CPU relabels)
"""

from .distiller import Distiller, distill
from .steps import final_student, on_test, stage_labels, stage_student

__all__ = ["Distiller", "distill", "final_student", "on_test", "stage_labels", "stage_student"]
