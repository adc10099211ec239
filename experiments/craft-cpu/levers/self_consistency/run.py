"""Self-consistency of one student: its greedy tree voted with N trees it samples itself.

The committee of run-vote's five students beats their teacher (54.44 on test at the dev-chosen
threshold) where each alone is its equal: their errors differ. The teacher's own samples did the
same for the teacher (greedy 41.16 -> 51.33 with three samples on dev, "Prompt levers"). This asks
whether one student's samples do it too, so that one model folder ships
(`mckd parse FINAL --samples N --vote-threshold T`, N+1 times the decoding).

Sampled passes at the teacher's vote temperature (0.7, not tuned; sample k from seed k). On the
200 dev sentences of the prompt levers, the 3-stage student (final_2) samples 4 times; the vote of
its greedy tree and its first k samples is scored at each threshold, and the threshold for
test's number of samples is chosen there. On the 500 test sentences the 3-stage student and
vanilla KD (final_0) each vote their greedy tree with `--samples` samples at that one threshold:
paired gains over the teacher, over the student's own greedy trees, and of the 3-stage student
over vanilla KD, both voted (the target's second half, under the same decoding).

    python experiments/craft-cpu/levers/self_consistency/run.py [--samples 2] [--dev-only]
        # needs the students' ct2 folders (2 cores, one worker: ~360 s a dev pass)

Resumable: each pass is a `mckd relabel` output (runs/self-consistency/, with its .partial);
its raw trees (id, output) are kept beside this script. Writes results.json beside it.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[3]
sys.path.insert(0, str(HERE.parent))

from common import brackets, by_id, paired_gain, paper_f1, vote  # noqa: E402
from mckd.data import load_split  # noqa: E402
from mckd.jsonio import read_json, read_jsonl, write_json_atomic, write_jsonl_atomic  # noqa: E402

from common import STEPS  # noqa: E402
DEV_INPUTS = HERE.parent / "committee" / "dev_inputs.jsonl"  # the prompt levers' 200 dev sentences
WORK = ROOT / "runs/self-consistency"
TEMPERATURE = 0.7  # teacher.vote_temperature
THRESHOLDS = (0.0, 0.1, 0.2, 0.3, 0.4)


def _label(student: str, split: str, name: str, temperature: float, seed: int) -> dict:
    """One pass of `student` over `split`, as raw trees by id; kept beside this script."""
    keep = HERE / f"{split}_{student}_{name}.jsonl"
    timing = HERE / "seconds.json"
    if not keep.exists():
        inputs = DEV_INPUTS if split == "dev" else STEPS / "select" / "test.jsonl"
        out = WORK / keep.name
        out.parent.mkdir(parents=True, exist_ok=True)
        cmd = ["mckd", "relabel", str(STEPS / student / "ct2"), "--input", str(inputs),
               "--out", str(out), "--no-progress"]
        if temperature > 0:
            cmd += ["--temperature", str(temperature), "--seed", str(seed)]
        t0 = time.time()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        secs = read_json(timing) if timing.exists() else {}
        secs[keep.stem] = round(time.time() - t0, 1)
        write_json_atomic(timing, secs)
        write_jsonl_atomic(keep, [{"id": r["id"], "output": r["output"]} for r in read_jsonl(out)])
    return {r["id"]: r["output"] for r in read_jsonl(keep)}


def _greedy(student: str, split: str) -> dict:
    if split == "test":
        return {i: r["output"] for i, r in by_id(f"{student}_test").items()}
    committee = HERE.parent / "committee" / f"dev_{student}.jsonl"  # vote_dev.py's, if there
    if committee.exists():
        return {r["id"]: r["output"] for r in read_jsonl(committee)}
    return _label(student, split, "greedy", 0.0, 0)


def main() -> dict:
    ap = argparse.ArgumentParser()
    ap.add_argument("--students", default="final_2,final_0", help="voted on test")
    ap.add_argument("--samples", type=int, default=2, help="samples per student on test")
    ap.add_argument("--dev-student", default="final_2", help="whose dev votes choose the threshold")
    ap.add_argument("--dev-samples", type=int, default=4)
    ap.add_argument("--dev-only", action="store_true")
    a = ap.parse_args()
    if not 1 <= a.samples <= a.dev_samples:
        raise SystemExit("--samples must be in 1..--dev-samples (dev chooses its threshold)")
    gold = {"dev": {r["id"]: r for r in load_split(ROOT / "data/craft", "dev")},
            "test": {r["id"]: r for r in load_split(ROOT / "data/craft", "test")}}
    res: dict = {"temperature": TEMPERATURE, "dev": {}, "test": {}}

    def passes_of(student: str, split: str, n: int) -> list[dict]:
        return [_greedy(student, split)] + [_label(student, split, f"sample{k}", TEMPERATURE, k)
                                            for k in range(1, n + 1)]

    def alone(g: dict, ids: list[str], passes: list[dict]) -> dict:
        return {"greedy": paper_f1(g, ids, [passes[0][i] for i in ids]),
                "samples": [paper_f1(g, ids, [p[i] for i in ids]) for p in passes[1:]],
                # share of sentences where a sample is the greedy tree: how diverse they are
                "samples_equal_to_greedy": [round(sum(p[i] == passes[0][i] for i in ids)
                                                  / len(ids), 3) for p in passes[1:]]}

    # dev: the vote of the greedy tree and the first k samples, k = 1..dev_samples, at each
    # threshold; the threshold is a share of the voters, so it is chosen for test's count
    g, s = gold["dev"], a.dev_student
    passes = passes_of(s, "dev", a.dev_samples)
    ids = sorted(passes[0])
    r = {"student": s, "n": len(ids), **alone(g, ids, passes)}
    for k in range(1, a.dev_samples + 1):
        r[f"vote_{k}_samples"] = {str(t): paper_f1(g, ids, [
            vote([p[i] for p in passes[:k + 1]], g[i]["words"], t) for i in ids])
            for t in THRESHOLDS}
    at = r[f"vote_{a.samples}_samples"]
    threshold = max(THRESHOLDS, key=lambda t: at[str(t)])
    res["dev"] = r
    res["threshold"] = {"chosen_on_dev": threshold, "samples": a.samples}
    if a.dev_only:
        write_json_atomic(HERE / "results.json", res)
        return res

    g = gold["test"]
    teacher_test = by_id("teacher_test")
    voted: dict[str, dict[str, str]] = {}
    for s in a.students.split(","):
        passes = passes_of(s, "test", a.samples)
        ids = sorted(passes[0])
        trees = [vote([p[i] for p in passes], g[i]["words"], threshold) for i in ids]
        voted[s] = dict(zip(ids, trees))
        res["test"][s] = {
            "n": len(ids), **alone(g, ids, passes), "vote": paper_f1(g, ids, trees),
            "gain_over_the_teacher": paired_gain(g, ids, trees,
                                                 [teacher_test[i]["output"] for i in ids]),
            "gain_over_its_greedy": paired_gain(g, ids, trees, [passes[0][i] for i in ids]),
            "brackets_greedy": brackets(g, passes[0]), "brackets_vote": brackets(g, voted[s])}
        write_jsonl_atomic(HERE / f"test_{s}_voted.jsonl",
                           [{"id": i, "output": t} for i, t in zip(ids, trees)])
    if {"final_2", "final_0"} <= set(voted):
        mc, kd = voted["final_2"], voted["final_0"]
        ids = sorted(mc)
        res["test"]["final_2_over_final_0_both_voted"] = paired_gain(
            g, ids, [mc[i] for i in ids], [kd[i] for i in ids])
    write_json_atomic(HERE / "results.json", res)
    return res


if __name__ == "__main__":
    print(json.dumps(main(), indent=1))
