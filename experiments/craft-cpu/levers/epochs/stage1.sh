#!/usr/bin/env bash
# Fewer epochs for a collaborative stage-1 student of craft-cpu run-vote: student A's recipe
# (SmolLM2-135M, batch 16, lr 3e-4, seed 100 as in the run) on the voted teacher's labels of half
# A, but EPOCHS epochs instead of 3, then it relabels half B: does a student that memorises its
# labels less (3 epochs: loss 0.14) relabel the half it did not see better? Compared, against the
# pool's held-back gold (analysis only), with the voted teacher's labels of half B (50.93) and
# the run's 3-epoch student A's relabels (48.02).
#
#   EPOCHS=1 bash experiments/craft-cpu/levers/epochs/stage1.sh [WORK_DIR] [KEY=VALUE ...]
#   LIMIT=4 bash ... /tmp/e1-smoke max_steps=1      # a smoke test on 4 records and 4 sentences
#
# Resumable like levers/epochs/run.sh. Writes stage1_A_epochs_<EPOCHS>.jsonl (raw relabels of
# half B) and stage1_A_epochs_<EPOCHS>.json (scores) beside this script.
set -euo pipefail
cd "$(dirname "$0")/../../../.."
HERE=experiments/craft-cpu/levers/epochs
RUN=experiments/craft-cpu/run-vote
EPOCHS=${EPOCHS:-1}
WORK=${1:-runs/craft-vote-s1A-epochs-$EPOCHS}
shift || true
mkdir -p "$WORK"

mckd train --train "$RUN/steps/labels_0_A/labels.jsonl" --out "$WORK/student" --init smollm2 \
    ${LIMIT:+--limit $LIMIT} epochs="$EPOCHS" batch_size=16 seed=100 "$@"
[ -f "$WORK/ct2/model.bin" ] || mckd export "$WORK/student" --out "$WORK/ct2"
mckd relabel "$WORK/ct2" --input "$RUN/steps/inputs_B/inputs.jsonl" --out "$WORK/relabels_B.jsonl" \
    --no-progress ${LIMIT:+--limit $LIMIT}

python - "$WORK/relabels_B.jsonl" "$HERE" "$EPOCHS" "$RUN" <<'PY'
import json, sys
from mckd.data import load_split
from mckd.jsonio import read_jsonl, write_json_atomic, write_jsonl_atomic
from mckd.metrics import score
labels, here, epochs, run = read_jsonl(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
gold = {r["id"]: r for r in load_split("data/craft", "train")}
teacher = {r["id"]: r for r in read_jsonl(f"{run}/steps/teacher_pool/labels.jsonl")}
run_a = {r["id"]: r for r in read_jsonl(f"{run}/steps/labels_1_B/labels.jsonl")}
g = [gold[r["id"]] for r in labels]
res = {"relabels": score(g, labels, "unlabeled"),
       "teacher_same_sentences": score(g, [teacher[r["id"]] for r in labels], "unlabeled"),
       "run_student_3_epochs_same_sentences": score(g, [run_a[r["id"]] for r in labels], "unlabeled")}
here = here if len(labels) >= 500 else sys.argv[1].rsplit("/", 1)[0]  # a smoke test writes beside its labels
name = f"stage1_A_epochs_{epochs}"
write_jsonl_atomic(f"{here}/{name}.jsonl", [{"id": r["id"], "output": r["output"]} for r in labels])
write_json_atomic(f"{here}/{name}.json", {"row": f"stage-1 student A, {epochs} epoch(s), relabels of half B",
                                          "pool_scores": res})
print(json.dumps({k: round(v["paper_f1"], 2) for k, v in res.items()}))
PY
