#!/usr/bin/env bash
# The gold anchor: does a stage-1 student relabel better than its teacher when the 50 gold
# examples the method already has (the teacher's demonstrations) are among its training labels?
# Stage-1 student A of run-vote (levers/stage1.sh: SmolLM2-135M, batch 16, lr 3e-4, seed 100) trains
# on the voted teacher's labels of half A plus the run's 50 gold examples repeated COPIES times
# (default 5: 500 + 250 records), for EPOCHS (default 2: 1,500 examples, 94 updates, where the
# run's student A had 96), and relabels half B. Its relabels are scored against the pool's held-back
# gold beside the teacher's labels of half B (50.93) and the run's student A's relabels (48.02).
# The gold examples alone, trained 30 epochs, score 51.45 on the test split (levers/pool_size):
# consistent trees are what this student learns from, and 500 noisy ones held it at its teacher's
# level. INIT=<student folder> starts from another student instead (e.g. the SFT-on-gold one).
#
#   bash experiments/craft-cpu/levers/gold_anchor/run.sh
#   COPIES=10 EPOCHS=1 bash ...
#   LIMIT=4 bash ... /tmp/anchor-smoke max_steps=1      # a smoke test
#
# Resumable as levers/stage1.sh. Writes stage1_A_mix_<COPIES>x<EPOCHS>.json(l) beside this script.
set -euo pipefail
cd "$(dirname "$0")/../../../.."
RUN=experiments/craft-cpu/run-vote
COPIES=${COPIES:-5}
EPOCHS=${EPOCHS:-2}
NAME=${NAME:-mix_${COPIES}x$EPOCHS}
WORK=${1:-runs/craft-anchor-$NAME}
shift || true
mkdir -p "$WORK"

# half A's teacher labels, then the gold examples COPIES times, shuffled together (seed 0) so that
# --limit in a smoke test takes some of each; the copies get their own ids
python - "$RUN" "$WORK/train.jsonl" "$COPIES" <<'PY'
import random
import sys
from mckd.jsonio import read_jsonl, write_jsonl_atomic
run, out, copies = sys.argv[1], sys.argv[2], int(sys.argv[3])
recs = read_jsonl(f"{run}/steps/labels_0_A/labels.jsonl")
gold = read_jsonl(f"{run}/steps/labels_gold/labels.jsonl")
recs += [dict(r, id=f"{r['id']}@gold{k}") for k in range(copies) for r in gold]
random.Random(0).shuffle(recs)
write_jsonl_atomic(out, recs)
PY

TRAIN="$WORK/train.jsonl" EPOCHS="$EPOCHS" NAME="$NAME" OUT=experiments/craft-cpu/levers/gold_anchor \
    bash experiments/craft-cpu/levers/stage1.sh "$WORK" "$@"
