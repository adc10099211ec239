#!/usr/bin/env bash
# Pool size: does a student on more pseudolabels move past its teacher? The learning curve of the
# run-vote stage-1 recipe (SmolLM2-135M, batch 16, lr 3e-4, seed 100) on SIZE records drawn at
# random (seed 0) from half A, or from the whole pool above 500 (the label files are in id order,
# so their first records would come from the first documents only), labelled by the voted teacher
# (LABELS=teacher, as stage-1 student A) or by the pool's held-back gold (LABELS=gold, analysis
# only), or the run's own 50 gold examples (LABELS=examples SIZE=50: SFT on gold, trained for as
# many updates as a stage student, where the run's baseline row trained 12), scored on the run's
# 500 test sentences. The run already has the teacher curve at 500
# (stage-1 students A / B) and 1,000 (vanilla KD), 3 epochs each. EPOCHS (default: 1,500 / SIZE
# under 500, else 3) keeps a smaller set at the stage-1 students' 96 updates: at 32 updates a
# student has not yet learnt to write trees (levers/epochs), which would measure too few steps
# instead of too few sentences.
#
#   SIZE=250 LABELS=teacher bash experiments/craft-cpu/levers/pool_size/run.sh
#   SIZE=4 TEST_LIMIT=4 bash ... /tmp/pool-smoke max_steps=1      # a smoke test
#
# Resumable: the trainer resumes its checkpoint, export and relabel skip what is done. Writes
# <LABELS>_<SIZE>.jsonl (raw test predictions) and <LABELS>_<SIZE>.json (scores) beside this script.
set -euo pipefail
cd "$(dirname "$0")/../../../.."
HERE=experiments/craft-cpu/levers/pool_size
RUN=experiments/craft-cpu/run-vote
SIZE=${SIZE:?SIZE=number of half-A records}
LABELS=${LABELS:-teacher}
EPOCHS=${EPOCHS:-$(( SIZE < 500 ? 1500 / SIZE : 3 ))}
WORK=${1:-runs/craft-pool-$LABELS-$SIZE}
shift || true
mkdir -p "$WORK"

# half A's records (the pool's above 500) shuffled, with the teacher's voted labels or the gold trees
python - "$RUN" "$WORK/train.jsonl" "$LABELS" "$(( SIZE > 500 ? 0 : 1 ))" <<'PY'
import random
import sys
from mckd.data import load_split
from mckd.jsonio import read_jsonl, write_jsonl_atomic
run, out, labels = sys.argv[1:4]
half = read_jsonl(f"{run}/steps/labels_0_{'A' if sys.argv[4] == '1' else 'all'}/labels.jsonl")
random.Random(0).shuffle(half)  # --limit then takes a random SIZE of them
if labels == "examples":  # the run's 50 gold examples, which the method has (the teacher's shots)
    half = read_jsonl(f"{run}/steps/labels_gold/labels.jsonl")
elif labels == "gold":  # the method never reads these; this lever does
    gold = {r["id"]: r for r in load_split("data/craft", "train")}
    half = [{"id": r["id"], "words": r["words"], "target": gold[r["id"]]["targets"]["unlabeled"]}
            for r in half]
elif labels != "teacher":
    sys.exit(f"LABELS must be teacher, gold or examples, not {labels!r}")
write_jsonl_atomic(out, half)
PY

mckd train --train "$WORK/train.jsonl" --out "$WORK/student" --init smollm2 --limit "$SIZE" \
    epochs="$EPOCHS" batch_size=16 seed=100 "$@"
[ -f "$WORK/ct2/model.bin" ] || mckd export "$WORK/student" --out "$WORK/ct2"
mckd relabel "$WORK/ct2" --input "$RUN/steps/select/test.jsonl" --out "$WORK/test_labels.jsonl" \
    --no-progress ${TEST_LIMIT:+--limit $TEST_LIMIT}

python - "$WORK/test_labels.jsonl" "$HERE" "${LABELS}_$SIZE" "$RUN" "$SIZE" "$EPOCHS" <<'PY'
import json, sys
from mckd.data import load_split
from mckd.jsonio import read_jsonl, write_json_atomic, write_jsonl_atomic
from mckd.metrics import score
labels, here, name, run, size, epochs = read_jsonl(sys.argv[1]), *sys.argv[2:7]
gold = {r["id"]: r for r in load_split("data/craft", "test")}
g = [gold[r["id"]] for r in labels]
res = {"student": score(g, labels, "unlabeled")}
for row, step in (("voted_teacher", "teacher_test"), ("stage1_A_500", "s1_A_test"),
                  ("stage1_B_500", "s1_B_test"), ("vanilla_kd_1000", "final_0_test")):
    by_id = {r["id"]: r for r in read_jsonl(f"{run}/steps/{step}/labels.jsonl")}
    res[row] = score(g, [by_id[r["id"]] for r in labels], "unlabeled")
here = here if len(labels) >= 100 else sys.argv[1].rsplit("/", 1)[0]  # a smoke test writes beside its labels
write_jsonl_atomic(f"{here}/{name}.jsonl", [{"id": r["id"], "output": r["output"]} for r in labels])
write_json_atomic(f"{here}/{name}.json", {"row": f"SmolLM2-135M, stage-1 recipe, {size} random records of half A or the pool ({name}), {epochs} epochs",
                                         "test_scores": res})
print(json.dumps({k: round(v["paper_f1"], 2) for k, v in res.items()}))
PY
