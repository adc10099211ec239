#!/usr/bin/env bash
# Follow-up to gpu_check.sh on the GPU machine (same carried .whl/.gpu folders, see its header):
# relabel / parse with device auto and cuda where CTranslate2 sees the GPU but lacks its CUDA 12
# cuBLAS. Run once against a load-time probe (auto still crashed, RESULTS.md); the decode-time
# fallback that replaced it has not been run here yet.
#   bash benchmarks/gpu_relabel_fallback.sh
set -u
source benchmarks/gpu_followup_setup.sh  # sets OUT, W, M; $W/train.jsonl, $W/in.jsonl
echo "=== train t5-micro on cuda, default settings (bf16 now off)"
timeout 60 $M train --train $W/train.jsonl --out $W/s --device cuda --arch t5-micro --epochs 2 2>&1 | tail -4
echo "=== export"
timeout 60 $M export $W/s --out $W/m 2>&1 | tail -2
echo "=== relabel --device auto (expect: warning, then CPU)"
timeout 60 $M relabel $W/m --input $W/in.jsonl --out $W/auto.jsonl --device auto 2>&1 | tail -4
echo "rc $?"; wc -l $W/auto.jsonl
echo "=== relabel --device cuda (expect: a clear error at once)"
timeout 60 $M relabel $W/m --input $W/in.jsonl --out $W/cuda.jsonl --device cuda 2>&1 | tail -3
echo "=== parse --device auto"
head -3 $W/in.jsonl | python3 -c "import json,sys; [print(' '.join(json.loads(l)['words'])) for l in sys.stdin]" > $W/s.txt
timeout 60 $M parse $W/m $W/s.txt 2>&1 | tail -4
