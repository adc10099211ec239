#!/usr/bin/env bash
# Fewer epochs for the craft-cpu vanilla-KD student: the run's recipe (SmolLM2-135M, batch 16,
# lr 3e-4, seed 0) on the teacher's labels of the whole pool, but EPOCHS epochs instead of 3
# (training loss 0.06 after 3: the student memorises its teacher's noise). Scored on the same
# 500 test sentences, raw outputs, beside the run's vanilla KD (39.60 after 3 epochs).
#
#   EPOCHS=1 bash experiments/craft-cpu/levers/epochs/run.sh [WORK_DIR] [KEY=VALUE ...]
#   LIMIT=4 bash ... /tmp/epochs-smoke max_steps=1     # a smoke test on 4 records and 4 sentences
#
# Resumable: training continues from its last epoch, relabel from its .partial file. Writes
# epochs_<EPOCHS>.jsonl (raw test predictions) and epochs_<EPOCHS>.json (scores) beside this script.
set -euo pipefail
cd "$(dirname "$0")/../../../.."
HERE=experiments/craft-cpu/levers/epochs
RUN=experiments/craft-cpu/run
EPOCHS=${EPOCHS:-1}
WORK=${1:-runs/craft-epochs-$EPOCHS}
shift || true
mkdir -p "$WORK"

mckd train --train "$RUN/steps/labels_0_all/labels.jsonl" --out "$WORK/student" --init smollm2 \
    ${LIMIT:+--limit $LIMIT} epochs="$EPOCHS" batch_size=16 seed=0 "$@"
[ -f "$WORK/ct2/model.bin" ] || mckd export "$WORK/student" --out "$WORK/ct2"
mckd relabel "$WORK/ct2" --input "$RUN/steps/select/test.jsonl" --out "$WORK/test_labels.jsonl" \
    --no-progress ${LIMIT:+--limit $LIMIT}

python - "$WORK/test_labels.jsonl" "$HERE" "$EPOCHS" <<'PY'
import json, sys
from mckd.data import load_split
from mckd.jsonio import read_jsonl, write_json_atomic, write_jsonl_atomic
from mckd.metrics import score
labels, here, epochs = read_jsonl(sys.argv[1]), sys.argv[2], sys.argv[3]
gold = {r["id"]: r for r in load_split("data/craft", "test")}
res = score([gold[r["id"]] for r in labels], labels, "unlabeled")
here = here if len(labels) >= 500 else sys.argv[1].rsplit("/", 1)[0]  # a smoke test writes beside its labels
name = f"epochs_{epochs}"
write_jsonl_atomic(f"{here}/{name}.jsonl", [{"id": r["id"], "output": r["output"]} for r in labels])
write_json_atomic(f"{here}/{name}.json", {"row": f"vanilla KD, {epochs} epoch(s)", "test_scores": res})
print(json.dumps({k: res[k] for k in ("n", "paper_f1", "evalb_f1", "invalid")}))
PY
