"""Versions of the code that decides outputs, in one place.

Each enters the fingerprints of the steps and the keys of the caches whose outputs it decides,
so a change here re-runs exactly what it changes (and an old cached output or score is never
shown as if the new code had made it). Bump a number whenever the behaviour changes, not for
speed-only edits.
"""

from __future__ import annotations

# Teacher prompt form and tree-constrained decoding (mckd.teacher: prompt, constraint, generate).
# 2: every output keeps the model's raw text in `output`.
CONSTRAINT_VERSION = 2

# Tree repair of predictions (mckd.trees.delinearize, cpp/repair.*) and what relabel stores.
# 2: relabel keeps the raw decoded text in `output` beside the repaired `target`.
REPAIR_VERSION = 2

# The teacher's self-consistency vote (mckd.teacher.vote: span votes, CKY, rendering) and how
# run_teacher turns the passes into one label; enters a teacher step only when it votes.
VOTE_VERSION = 1

# Metrics of evaluate.score (eval.json, references.json, results.json).
# 2: scores the raw `output` (not the repaired target); paper F1 via the authors' algorithm;
#    unlabeled EVALB in the unlabeled linearization space (exact prediction = 100).
SCORER_VERSION = 2


def code_versions() -> dict[str, int]:
    """All versions as one dict (for manifests and fingerprints)."""
    return {"constraint": CONSTRAINT_VERSION, "repair": REPAIR_VERSION, "scorer": SCORER_VERSION}
