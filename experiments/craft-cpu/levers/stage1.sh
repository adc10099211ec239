#!/usr/bin/env bash
# One collaborative stage-1 student of craft-cpu run-vote, changed in one thing, then it relabels
# the half it did not see: the MCKD step that fails in the run (its students relabel worse than
# the teacher). Student A's recipe (batch 16, seed 100 as in the run) on the voted teacher's
# labels of half A, with INIT (default smollm2, the run's), EPOCHS (default 3) and any trainer
# KEY=VALUE (lr=...); its relabels of half B are compared, against the pool's held-back gold
# (analysis only), with the voted teacher's labels of half B (50.93) and the run's student A's
# relabels (48.02).
#
#   EPOCHS=1 bash experiments/craft-cpu/levers/stage1.sh          # levers/epochs: fewer epochs
#   INIT=qwen2.5-coder-0.5b NAME=qwen0.5b OUT=experiments/craft-cpu/levers/student_size \
#       bash experiments/craft-cpu/levers/stage1.sh "" lr=5e-5       # a larger student
#   LIMIT=4 bash ... /tmp/e1-smoke max_steps=1      # a smoke test on 4 records and 4 sentences
#   RELABEL_LIMIT=200 ...   # relabel only the first 200 sentences of half B (scores stay paired)
#   TRAIN=file.jsonl ...    # train on other labels of half A (levers/gold_anchor: + gold examples)
#   DEV=file.jsonl ... stop=dev   # keep the epoch that scores best on held-out labeled records
#       (levers/dev_stop: the run's 50 gold examples)
#
# Resumable: the trainer resumes its checkpoint, export and relabel skip what is done. Writes
# stage1_A_<NAME>.jsonl (raw relabels of half B) and stage1_A_<NAME>.json (scores) in OUT.
set -euo pipefail
cd "$(dirname "$0")/../../.."
RUN=experiments/craft-cpu/run-vote
EPOCHS=${EPOCHS:-3}
INIT=${INIT:-smollm2}
NAME=${NAME:-epochs_$EPOCHS}
HERE=${OUT:-experiments/craft-cpu/levers/epochs}
WORK=${1:-runs/craft-vote-s1A-$NAME}
shift || true
mkdir -p "$WORK"

TRAIN=${TRAIN:-$RUN/steps/labels_0_A/labels.jsonl}

mckd train --train "$TRAIN" --out "$WORK/student" --init "$INIT" \
    ${LIMIT:+--limit $LIMIT} ${DEV:+--dev "$DEV"} epochs="$EPOCHS" batch_size=16 seed=100 "$@"
[ -f "$WORK/ct2/model.bin" ] || mckd export "$WORK/student" --out "$WORK/ct2"
mckd relabel "$WORK/ct2" --input "$RUN/steps/inputs_B/inputs.jsonl" --out "$WORK/relabels_B.jsonl" \
    --no-progress ${RELABEL_LIMIT:+--limit $RELABEL_LIMIT} ${LIMIT:+--limit $LIMIT}

python - "$WORK/relabels_B.jsonl" "$HERE" "$NAME" "$RUN" "$INIT $EPOCHS epoch(s) on ${TRAIN#"$RUN"/steps/}${DEV:+, dev ${DEV#"$RUN"/steps/}} $*" <<'PY'
import json, sys
from mckd.data import load_split
from mckd.jsonio import read_jsonl, write_json_atomic, write_jsonl_atomic
from mckd.metrics import score
labels, here, name, run, recipe = read_jsonl(sys.argv[1]), *sys.argv[2:6]
gold = {r["id"]: r for r in load_split("data/craft", "train")}
teacher = {r["id"]: r for r in read_jsonl(f"{run}/steps/teacher_pool/labels.jsonl")}
run_a = {r["id"]: r for r in read_jsonl(f"{run}/steps/labels_1_B/labels.jsonl")}
g = [gold[r["id"]] for r in labels]
res = {"relabels": score(g, labels, "unlabeled"),
       "teacher_same_sentences": score(g, [teacher[r["id"]] for r in labels], "unlabeled"),
       "run_student_3_epochs_same_sentences": score(g, [run_a[r["id"]] for r in labels], "unlabeled")}
here = here if len(labels) >= 100 else sys.argv[1].rsplit("/", 1)[0]  # a smoke test writes beside its labels
name = f"stage1_A_{name}"
write_jsonl_atomic(f"{here}/{name}.jsonl", [{"id": r["id"], "output": r["output"]} for r in labels])
write_json_atomic(f"{here}/{name}.json", {"row": f"stage-1 student A ({recipe}), relabels of half B",
                                          "pool_scores": res})
print(json.dumps({k: round(v["paper_f1"], 2) for k, v in res.items()}))
PY
