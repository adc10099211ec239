"""Scores of what a model wrote, in one place.

    from mckd.metrics import score
    result = score(gold_records, predictions, "unlabeled")   # paper F1, EVALB, strict, ...
    paired_gain(score(g, a, f, per_sentence=True)["paper_f1_per_sentence"], ...)  # a - b, +/- se

Modules: `score` (the one entry point: picks the metrics that fit the format and reads raw
outputs), `paper` (the authors' paper F1, C++), `evalb` (EVALB-exact bracket scoring, C++),
`text` (exact match, token F1, chunk F1 for non-tree tasks), `spans` (unlabeled span F1 of two
trees in the students' notation, for training fidelity).
"""

from .score import REFERENCE_KINDS, paired_gain, reference_scores, reference_tree, score

__all__ = ["REFERENCE_KINDS", "paired_gain", "reference_scores", "reference_tree", "score"]
