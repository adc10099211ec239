# Sourced by the gpu_check.sh follow-ups (gpu_relabel_fallback.sh, gpu_t5_lr.sh) on the GPU
# machine, from the repository root with gpu_check.sh's carried .whl/ and .gpu/ folders: installs
# mckd and its wheels under /tmp/site, imports CRAFT, and writes 480 training records of 20-30
# words ($W/train.jsonl, gold unlabeled targets) and the next 40 sentences ($W/in.jsonl).
# Sets OUT, W and M (the mckd command).
export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false HF_HUB_OFFLINE=1
OUT=${OUT:-/tmp/out}; W=/tmp/w; mkdir -p $W/whl $OUT
for f in .whl/*.whl.xz; do xz -dc "$f" > "$W/whl/$(basename "${f%.xz}")"; done
cp .whl/*.whl $W/whl/ 2>/dev/null
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site $W/whl/*.whl || exit 1
python3 -m pip install -q --no-build-isolation --no-deps --no-index --no-cache-dir --target /tmp/site . || exit 1
export PYTHONPATH=/tmp/site
M="python3 -m mckd.cli"
$M data import '.gpu/craft/*.tree' --out $W/data > /dev/null || exit 1
python3 - <<'PY'
import json
recs = [json.loads(l) for l in open("/tmp/w/data/train.jsonl")]
pool = [r for r in recs if 20 <= len(r["words"]) <= 30]
with open("/tmp/w/train.jsonl", "w") as f:
    for r in pool[:480]:
        f.write(json.dumps({"id": r["id"], "words": r["words"], "source": r["source"],
                            "target": r["targets"]["unlabeled"]}) + "\n")
with open("/tmp/w/in.jsonl", "w") as f:
    for r in pool[480:520]:
        f.write(json.dumps({"id": r["id"], "words": r["words"]}) + "\n")
PY
