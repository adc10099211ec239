#!/usr/bin/env bash
# Follow-up to gpu_check.sh on the GPU machine (same carried .whl/.gpu folders, see its header):
# where does the t5-small NaN on CUDA come from (bf16 or not, first forward or later)? Every
# step's loss of 1 epoch on 480 CRAFT sentences, t5-small in bf16 / fp32 / at lr 3e-4, t5-micro.
#   bash benchmarks/gpu_t5_lr.sh      # writes $OUT/<run>.log
set -u
source benchmarks/gpu_followup_setup.sh  # sets OUT, W, M; $W/train.jsonl, $W/in.jsonl
run() {  # name args...
  local n=$1; shift
  echo "=== $n: $*"
  timeout 100 $M train --train $W/train.jsonl --out $W/s_$n --device cuda --epochs 1 "$@" \
    batch_size=16 log_every=1 > $OUT/$n.log 2>&1
  echo "rc $?"; grep -m3 -i "nan" $OUT/$n.log; grep -m4 "step [1-4]:" $OUT/$n.log; tail -n 2 $OUT/$n.log
}
run small_bf16 --arch t5-small bf16=true
run small_fp32 --arch t5-small bf16=false
run micro_bf16 --arch t5-micro bf16=true
run small_bf16_lr3e-4 --arch t5-small bf16=true lr=0.0003
python3 - <<'PY'
# the first batch's forward under autocast, outside the trainer: finite or not?
import torch
from mckd.student.models import build_model
torch.manual_seed(0)
m = build_model("t5-small", 8000, 0, 1).cuda().train()
x = torch.randint(2, 8000, (16, 40), device="cuda"); y = torch.randint(2, 8000, (16, 110), device="cuda")
y[:, 90:] = -100
am = torch.ones_like(x); am[:, 30:] = 0
for bf in (False, True):
    with torch.autocast("cuda", dtype=torch.bfloat16, enabled=bf):
        out = m(input_ids=x, attention_mask=am, labels=y)
    print("forward", "bf16" if bf else "fp32", float(out.loss.detach()), bool(torch.isfinite(out.logits).all()))
PY
