"""The run's two votes over label files (no model runs): each output is the consensus of
several systems' raw outputs of the same sentence (mckd.teacher.vote, by the format's rule).

- stage_vote: what a stage hands on for a half, the teacher's passes and the other student's
  relabel voting together (`stage_vote`);
- committee: the run's students voting each test output (`baselines.committee`), what
  `mckd parse FINAL --with ...` deploys.

Where no voter wrote a usable output, the relabel (stage vote) or the first member's output
(committee: the shipped student) stands.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import MckdError


def stage_vote(fmt: str, relabels: list[dict], teacher_labels: list[dict], threshold: float,
               where: Path) -> list[dict]:
    """Each relabel voted with the teacher's passes over the same sentence (`where`: the
    relabels' file, for the error of a sentence the teacher did not label)."""
    from ..teacher.vote import vote

    teacher = {r["id"]: r for r in teacher_labels}
    out = []
    for r in relabels:
        t = teacher.get(r["id"])
        if t is None:
            raise MckdError(f"{where}: record {r['id']!r} is not in the teacher's "
                            "labels of the pool")
        # a teacher that did not vote is one pass: its raw output
        trees = list((t.get("votes") or {}).get("outputs") or [t["output"]])
        trees.append(r["output"])
        tree, usable = vote(fmt, trees, r["words"], threshold)
        voted = r if tree is None else {  # no voter wrote a tree: the relabel stays
            "id": r["id"], "source": r["source"], "words": r["words"], "target": tree,
            "output": tree, "valid": True, "repaired": False}
        out.append({**voted, "relabel_output": r["output"],
                    "stage_vote": {"voters": len(trees), "usable": usable}})
    return out


def committee(fmt: str, member_labels: list[list[dict]], threshold: float) -> list[dict]:
    """Each test sentence's consensus of the members' raw outputs, in the first member's order."""
    from ..teacher.vote import vote

    labels = [{r["id"]: r for r in recs} for recs in member_labels]
    out = []
    for rid, first in labels[0].items():
        tree, usable = vote(fmt, [lab[rid]["output"] for lab in labels], first["words"],
                            threshold)
        rec = {k: first[k] for k in ("id", "source", "words", "output", "target", "valid",
                                     "repaired") if k in first}
        if tree is not None:
            rec.update(output=tree, target=tree, valid=True, repaired=False)
        out.append({**rec, "committee": {"members": len(labels), "usable": usable}})
    return out
