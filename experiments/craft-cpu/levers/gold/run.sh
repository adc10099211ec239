#!/usr/bin/env bash
# The gold-label ceiling of the craft-cpu student: the same SmolLM2-135M student and settings as
# the run's vanilla KD (3 epochs, batch 16, lr 3e-4, seed 0), trained on the pool's *gold* trees
# instead of the teacher's labels, then scored on the same 500 test sentences. If it does not
# clear the teacher by far, the student (size, epochs, data), not the teacher, bounds MCKD here.
#
#   bash experiments/craft-cpu/levers/gold/run.sh [WORK_DIR] [KEY=VALUE ...]
#   HALF=A bash ...                 # train on half A only (500 trees, as a stage-1 student does)
#   LIMIT=4 bash ... /tmp/gold-smoke max_steps=1     # a smoke test on 4 records and 4 test sentences
#
# Resumable: training continues from its last epoch, relabel from its .partial file. Writes
# gold_<HALF>.jsonl (raw test predictions) and gold_<HALF>.json (scores) beside this script.
set -euo pipefail
cd "$(dirname "$0")/../../../.."
HERE=experiments/craft-cpu/levers/gold
RUN=experiments/craft-cpu/run
WORK=${1:-runs/craft-gold}
shift || true
mkdir -p "$WORK"

# the pool's gold trees in the students' format (the method never reads them; this lever does)
python - "$RUN" "$WORK/gold_pool.jsonl" "${HALF:-all}" <<'PY'
import sys
from mckd.data import load_split
from mckd.jsonio import read_json, read_jsonl, write_jsonl_atomic
run, out, half = sys.argv[1], sys.argv[2], sys.argv[3]
gold = {r["id"]: r for r in load_split("data/craft", "train")}
pool = read_jsonl(f"{run}/steps/select/pool.jsonl")
if half != "all":  # one half of the run's split, as a collaborative student sees it
    keep = set(read_json(f"{run}/steps/split/split.json")[half])
    pool = [r for r in pool if r["id"] in keep]
write_jsonl_atomic(out, [{"id": r["id"], "words": gold[r["id"]]["words"],
                          "target": gold[r["id"]]["targets"]["unlabeled"]} for r in pool])
print(f"{len(pool)} gold pool trees -> {out}")
PY

mckd train --train "$WORK/gold_pool.jsonl" --out "$WORK/student" --init smollm2 ${LIMIT:+--limit $LIMIT} \
    epochs=3 batch_size=16 seed=0 "$@"
[ -f "$WORK/ct2/model.bin" ] || mckd export "$WORK/student" --out "$WORK/ct2"
mckd relabel "$WORK/ct2" --input "$RUN/steps/select/test.jsonl" --out "$WORK/test_labels.jsonl" --no-progress ${LIMIT:+--limit $LIMIT}

python - "$WORK/test_labels.jsonl" "$HERE" "${HALF:-all}" <<'PY'
import json, sys
from mckd.data import load_split
from mckd.jsonio import read_jsonl, write_json_atomic, write_jsonl_atomic
from mckd.metrics import score
labels, here = read_jsonl(sys.argv[1]), sys.argv[2]
gold = {r["id"]: r for r in load_split("data/craft", "test")}
res = score([gold[r["id"]] for r in labels], labels, "unlabeled")
here = here if len(labels) >= 500 else sys.argv[1].rsplit("/", 1)[0]  # a smoke test writes beside its labels
name = "gold_" + sys.argv[3]
write_jsonl_atomic(f"{here}/{name}.jsonl", [{"id": r["id"], "output": r["output"]} for r in labels])
write_json_atomic(f"{here}/{name}.json", {"row": f"SmolLM2-135M on the pool's gold trees ({sys.argv[3]})", "test_scores": res})
print(json.dumps({k: res[k] for k in ("n", "paper_f1", "evalb_f1", "invalid")}))
PY
