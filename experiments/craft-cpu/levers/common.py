"""What the lever analyses share: the run-vote steps they read, the pipeline's vote rule, paper F1
(whole and per sentence), paired gains, bracket counts and the prompt levers' dev sample.

Each analysis script puts this folder on sys.path and imports from here, instead of from one
another (a script named analyze.py importing `analyze` got whichever came first on the path).
"""

from __future__ import annotations

import random
import statistics
from pathlib import Path

from mckd.jsonio import read_jsonl
from mckd.metrics import paired_gain as metrics_paired_gain
from mckd.metrics import score
from mckd.teacher.vote import consensus

ROOT = Path(__file__).resolve().parents[3]
STEPS = ROOT / "experiments/craft-cpu/run-vote/steps"
TEACHER_THRESHOLD = 0.2  # teacher.vote_threshold in the craft-cpu-vote preset
# baselines.committee of run-vote: the shipped 3-stage student first, then every stage student
RUN_COMMITTEE = ["final_2", "s1_A", "s1_B", "s2_A", "s2_B"]


def by_id(step: str) -> dict[str, dict]:
    """A run-vote label step's records by id."""
    return {r["id"]: r for r in read_jsonl(STEPS / step / "labels.jsonl")}


def outputs(path: Path) -> dict[str, dict]:
    """A label file's records by id."""
    return {r["id"]: r for r in read_jsonl(path)}


def raw_trees(path: Path) -> dict[str, str]:
    """The raw output of each record, by id."""
    return {r["id"]: r["output"] for r in read_jsonl(path)}


def vote(trees: list[str], words: list[str], threshold: float) -> str:
    """As the pipeline votes: where no voter wrote a tree over the words, the first one's stands."""
    tree, _ = consensus(trees, words, threshold)
    return trees[0] if tree is None else tree


def paper_f1(gold: dict, ids: list[str], outputs: list[str]) -> float:
    """Paper F1 of raw outputs (in the order of `ids`) against the gold records by id."""
    preds = [{"id": i, "output": o} for i, o in zip(ids, outputs)]
    return round(score([gold[i] for i in ids], preds, "unlabeled")["paper_f1"], 2)


def per(gold: dict, ids: list[str], trees: list[str]) -> list[float | None]:
    """Each sentence's paper F1 (None where the metric leaves it out), in the order of `ids`."""
    return score([gold[i] for i in ids], [{"id": i, "output": t} for i, t in zip(ids, trees)],
                 "unlabeled", per_sentence=True)["paper_f1_per_sentence"]


def mean(xs: list[float | None]) -> float:
    """Paper F1: the mean over the sentences the metric scores."""
    return round(statistics.mean(x for x in xs if x is not None), 2)


def paired_gain(gold: dict, ids: list[str], outputs: list[str], base: list[str]) -> dict:
    """Mean per-sentence paper F1 of `outputs` minus `base`'s, with its standard error."""
    return metrics_paired_gain(per(gold, ids, outputs), per(gold, ids, base))


def quarters(ids: list[str], agree: dict[str, float]) -> list[list[str]]:
    """`ids` in four groups by rising `agree` (the last takes the remainder)."""
    order = sorted(ids, key=lambda i: agree[i])
    q = len(order) // 4
    return [order[k * q:(k + 1) * q if k < 3 else len(order)] for k in range(4)]


def brackets(gold: dict, outputs: dict[str, str]) -> dict:
    """Spans of >= 2 words (punctuation kept, unlike paper F1) a sentence, and their micro
    precision / recall against the gold: does a vote add brackets a student lacks?"""
    from mckd.metrics.spans import spans

    n = pred = hit = ref = 0
    for i, out in outputs.items():
        got, want = spans(out) or set(), spans(gold[i]["targets"]["unlabeled"])
        n, pred, ref, hit = n + 1, pred + len(got), ref + len(want), hit + len(got & want)
    return {"per_sentence": round(pred / n, 1), "gold_per_sentence": round(ref / n, 1),
            "precision": round(100 * hit / pred, 1), "recall": round(100 * hit / ref, 1)}


def sentences(n: int, seed: int) -> list[dict]:
    """N dev sentences of 20-30 words, sampled with `seed`, in id order (the prompt levers')."""
    from mckd.data import load_split

    band = [r for r in load_split(ROOT / "data" / "craft", "dev") if 20 <= len(r["words"]) <= 30]
    return sorted(random.Random(seed).sample(band, min(n, len(band))), key=lambda r: r["id"])
