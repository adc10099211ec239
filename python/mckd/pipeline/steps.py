"""The steps of a run, declared once: how each is named (its folder under RUN_DIR/steps/, so
names never change), what it does, and the seed of every one that draws random numbers.

The distiller builds names with the functions below and takes seeds from `seed()`; `--only`,
the parallel runner and the manifest read the same table, so a new kind of step is one entry
in `KINDS`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

# what a step does; the first three run a model (`--only` may name them, the parallel runner
# schedules them), the rest are bookkeeping that always runs
TEACHER, TRAIN, RELABEL = "teacher", "train", "relabel"
SAMPLE, COLLECT, VOTE = "sample", "collect", "vote"
MODEL_WORK = (TEACHER, TRAIN, RELABEL)


@dataclass(frozen=True)
class StepKind:
    key: str                 # a short name for the kind
    pattern: str             # the step names of this kind (a full-match regex)
    does: str                # TEACHER, TRAIN, RELABEL, SAMPLE, COLLECT or VOTE
    what: str                # one line for people
    seed: Callable[[int, re.Match], int] | None = None  # its seed from the run's seed
    seed_rule: str = ""      # that rule in words (the manifest records it)

    @property
    def runs_model(self) -> bool:
        return self.does in MODEL_WORK


def _k(m: re.Match) -> int:
    return int(m["k"])


# The seeds are offsets of the run's seed, as they have always been: a step's seed is part of
# its fingerprint, so changing one would redo every finished run's step.
KINDS: tuple[StepKind, ...] = (
    StepKind("select", r"select", SAMPLE,
             "sample the demonstrations, the unlabeled pool and the test inputs",
             lambda s, m: s, "seed (demonstrations); the pool and test samples: seed+1, seed+2"),
    StepKind("teacher", r"teacher_(pool|test)", TEACHER, "the teacher labels the pool or test",
             lambda s, m: s, "seed (sampled passes j: seed+j)"),
    StepKind("split", r"split", SAMPLE, "split the pool once into halves A and B",
             lambda s, m: s + 3, "seed+3"),
    StepKind("inputs", r"inputs_[AB]", COLLECT, "the unlabeled inputs of one half"),
    StepKind("labels", r"labels_(?P<k>\d+)_(all|[AB])", COLLECT,
             "labels of a half after stage k (k=0: the teacher's), or of both halves (all)"),
    StepKind("stage_student", r"s(?P<k>[1-9]\d*)_(?P<side>[AB])", TRAIN,
             "collaborative stage k's student trained on one half",
             lambda s, m: s + 100 * _k(m) + (m["side"] == "B"),
             "seed+100k (half A), seed+100k+1 (half B)"),
    StepKind("relabels", r"labels_(?P<k>[1-9]\d*)_[AB]", RELABEL,
             "stage k's student of one half relabels the other"),
    StepKind("voted", r"voted_(?P<k>[1-9]\d*)_[AB]", VOTE,
             "stage_vote: the teacher's passes and stage k's relabels of a half vote"),
    StepKind("final", r"final_(?P<k>\d+)", TRAIN,
             "the student trained on A and B with stage k's labels (k=0: vanilla KD)",
             lambda s, m: s + 10 + _k(m), "seed+10+k"),
    StepKind("sft_gold", r"sft_gold", TRAIN, "baseline: a student fine-tuned on the gold examples",
             lambda s, m: s + 7, "seed+7"),
    StepKind("sd_relabel", r"sd_relabel", RELABEL, "baseline KD+SD: vanilla KD relabels the pool"),
    StepKind("sd_filter", r"sd_filter", TRAIN,
             "baseline KD+SD: a student on the most confident half of those labels",
             lambda s, m: s + 8, "seed+8"),
    StepKind("baseline_labels", r"labels_(gold|sd)", COLLECT, "a baseline's training labels"),
    StepKind("on_test", r"(s[1-9]\d*_[AB]|final_\d+|sft_gold|sd_filter)_test", RELABEL,
             "a student labels the test split"),
    StepKind("committee", r"committee_test", VOTE, "the run's students vote each test output"),
)


# ---------------------------------------------------------------- names
def stage_student(k: int, side: str) -> str:
    """Collaborative stage k's student trained on half `side`."""
    return f"s{k}_{side}"


def stage_labels(k: int, side: str) -> str:
    """Labels of half `side` after stage k (k = 0: the teacher's; side "all": both halves)."""
    return f"labels_{k}_{side}"


def voted_labels(k: int, side: str) -> str:
    """stage_vote: the consensus of the teacher's passes and stage k's relabels of half `side`."""
    return f"voted_{k}_{side}"


def final_student(k: int) -> str:
    """The student trained on A and B with the labels of stage k (k = 0: vanilla KD)."""
    return f"final_{k}"


def on_test(student: str) -> str:
    """The step where `student` (or "teacher") labels the test split."""
    return f"{student}_test"


# ---------------------------------------------------------------- lookups
def match(name: str) -> tuple[StepKind, re.Match] | None:
    """The kind of step `name` and its match (the most specific: a relabel before a collection)."""
    found = None
    for kind in KINDS:
        m = re.fullmatch(kind.pattern, name)
        if m and (found is None or kind.runs_model):
            found = (kind, m)
    return found


def kind_of(name: str) -> StepKind | None:
    km = match(name)
    return km[0] if km else None


def is_model_step(name: str) -> bool:
    """Whether step `name` runs a model (teacher, training, relabel); what `only=` may name."""
    k = kind_of(name)
    return bool(k and k.runs_model)


def is_training_step(name: str) -> bool:
    """Whether step `name` trains a student."""
    k = kind_of(name)
    return bool(k and k.does == TRAIN)


def seed(name: str, run_seed: int) -> int:
    """The seed of step `name` in a run seeded `run_seed`."""
    km = match(name)
    if km is None or km[0].seed is None:
        raise KeyError(f"step {name!r} draws no random numbers")
    return km[0].seed(run_seed, km[1])


def seeds(names: Iterable[str], run_seed: int) -> dict:
    """What a manifest records: the run's seed, each rule, and the seed of each named step."""
    return {"run": run_seed,
            "rules": {k.key: k.seed_rule for k in KINDS if k.seed is not None},
            "steps": {n: seed(n, run_seed) for n in sorted(names)
                      if (k := kind_of(n)) is not None and k.seed is not None}}
