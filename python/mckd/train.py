"""Train a seq2seq student on (pseudo)labeled records — one readable loop, nanoGPT-style.

    records → tokenizer (built from the data, or the --init checkpoint's) → model
    for epoch: length-bucketed batches → AdamW step (grad accumulation, bf16 on CUDA, clipping)
               → checkpoint (model + optimizer + scheduler + RNG, atomic) → optional fidelity
    → save a standard HF folder (config + safetensors + tokenizer.json) + mckd_student.json

Resume: re-running with the same records and config continues after the last finished epoch
and ends with the same weights as an uninterrupted run (batch order is a function of
(seed, epoch); the RNG state is restored). Distributed: launched by `torchrun`, each rank takes
every world_size-th batch and DDP averages the gradients; rank 0 writes.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import random
import sys
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from .errors import MckdError
from .formats import FORMATS, TREE_FORMATS
from .tokenizer import LEAVES, StudentTokenizer, build_tokenizer, is_index, \
    length_stats, max_decoding_length, tree_units

CHECKPOINT = "checkpoint.pt"
META = "mckd_student.json"


@dataclass
class TrainConfig:
    format: str = "unlabeled"     # unlabeled | labeled | skeleton | text
    init: str = ""                # local HF seq2seq checkpoint to fine-tune ("" = from scratch),
                                  # or a decoder-only one: a GGUF short name (smollm2), a .gguf
                                  # file or an HF causal-LM folder (mckd.student_causal)
    arch: str = "t5-micro"        # named from-scratch config (mckd.student.ARCHS)
    leaves: str = "auto"          # indexed | slots | words | bare | auto (indexed for from-scratch
                                  # trees, words for pretrained); bare: pretrained unlabeled
                                  # students write `( ( The dog ) barked )`, about half the tokens
    vocab_size: int = 2000        # from-scratch tokenizer size (the tied output layer's cost)
    epochs: int = 0               # 0 = auto: 20 for pretrained (paper), 30 from scratch
    max_steps: int = 0            # stop after this many optimizer steps in total (0 = no limit)
    stop: str = "epochs"          # epochs | fidelity (the paper's training-fidelity rule)
    fidelity_sample: int = 200    # training records re-decoded per epoch for fidelity
    fidelity_delta: float = 0.1   # F1 points
    fidelity_patience: int = 3    # epochs in a row with |ΔF1| < delta
    batch_size: int = 0           # sentences per micro-batch per rank; 0 = auto: 32 / 16
    grad_accum: int = 1
    lr: float = 0.0               # 0 = auto: 3e-4 pretrained (paper), 2e-3 from scratch
    warmup: float = -1.0          # fraction of steps; -1 = auto: 0 pretrained, 0.05 scratch
    weight_decay: float = -1.0    # -1 = auto: 0.0 pretrained, 0.01 scratch
    max_grad_norm: float = 1.0
    dropout: float = 0.1          # from-scratch students only
    max_source_len: int = 1024    # longer inputs are an error (never silently cut)
    max_target_len: int = 2048
    bucket: int = 50              # batches per length bucket (sorted inside, shuffled across)
    device: str = "auto"          # auto | cpu | cuda
    bf16: bool = True             # bf16 autocast on CUDA
    threads: int = 0              # torch CPU threads (0 = auto, see _set_threads)
    seed: int = 0
    stop_after_epochs: int = 0    # end this invocation after N more epochs (resume later)
    keep_checkpoint: bool = False  # keep checkpoint.pt (optimizer state) after finishing
    log_every: int = 0            # print the loss every N steps (0 = once per epoch)
    quiet: bool = False

    # fields that do not change what is learned: excluded from the resume fingerprint
    RUNTIME = ("device", "threads", "stop_after_epochs", "keep_checkpoint", "log_every", "quiet",
               "bf16")

    def resolved(self) -> "TrainConfig":
        """A copy with every 'auto' setting filled in for this kind of student."""
        c = dataclasses.replace(self)
        pre = bool(c.init)
        if c.format not in FORMATS:
            raise MckdError(f"unknown format {c.format!r} (expected one of {', '.join(FORMATS)})")
        if c.stop not in ("epochs", "fidelity"):
            raise MckdError(f"stop={c.stop!r}: expected epochs or fidelity")
        if c.leaves == "auto":
            c.leaves = "indexed" if (not pre and c.format in TREE_FORMATS) else "words"
        if c.format == "text":
            c.leaves = "words"
        if c.leaves not in LEAVES:
            raise MckdError(f"leaves={c.leaves!r}: expected auto or one of {', '.join(LEAVES)}")
        if c.leaves == "bare" and not (pre and c.format == "unlabeled"):
            raise MckdError("leaves=bare is for pretrained (--init) students of the unlabeled "
                            f"format, not {'from-scratch ' if not pre else ''}{c.format}")
        # Pretrained: the paper's recipe. From scratch, measured on CRAFT (<= 20 words, gold
        # unlabeled targets, 200 dev sentences, paper F1; flat trees score 34.3, right-branching
        # 55.5): t5-micro, 400 examples, batch 16, lr 2e-3, indexed leaves: 35.5 / 36.1 / 37.5
        # after 10 / 20 / 30 epochs (4 min on 1 shared core); slot leaves stalled at 34.3-40.8.
        # Small from-scratch students learn slowly: expect far better with --init (a T5).
        if c.epochs <= 0:
            c.epochs = 20 if pre else 30
        if c.batch_size == 0:
            c.batch_size = 32 if pre else 16
        if c.lr <= 0:
            c.lr = 3e-4 if pre else 2e-3
        if c.warmup < 0:
            c.warmup = 0.0 if pre else 0.05
        if c.weight_decay < 0:
            c.weight_decay = 0.0 if pre else 0.01
        if c.batch_size < 1 or c.grad_accum < 1:
            raise MckdError("batch_size and grad_accum must be >= 1")
        return c


def apply_overrides(cfg: TrainConfig, items: list[str]) -> TrainConfig:
    """Apply `key=value` strings to a TrainConfig, converting to each field's type."""
    names = {f.name: f for f in fields(cfg)}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip().lstrip("-").replace("-", "_")
        if not sep or key not in names:
            raise MckdError(f"override {item!r}: expected key=value with key one of "
                            f"{', '.join(sorted(names))}")
        cur = getattr(cfg, key)
        try:
            if isinstance(cur, bool):
                if value.lower() not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
                    raise ValueError
                new = value.lower() in ("1", "true", "yes", "on")
            elif isinstance(cur, int):
                new = int(value)
            elif isinstance(cur, float):
                new = float(value)
            else:
                new = value
        except ValueError:
            raise MckdError(f"override {item!r}: expected a {type(cur).__name__}") from None
        setattr(cfg, key, new)
    return cfg


# ----------------------------------------------------------------------------- data
def _words(rec: dict) -> list[str]:
    return list(rec.get("words") or str(rec.get("source", "")).split())


def _target(rec: dict, fmt: str) -> str:
    if "target" in rec and rec["target"] is not None:
        return rec["target"]
    t = rec.get("targets") or {}
    if fmt in t:
        return t[fmt]
    return None


def prepare_records(records: list[dict], fmt: str) -> list[dict]:
    """Validate and normalise to {"id", "words", "target"}; errors name the record."""
    out = []
    for i, r in enumerate(records):
        rid = r.get("id", f"#{i}")
        if not isinstance(r, dict):
            raise MckdError(f"training record {i}: expected an object")
        words = _words(r)
        tgt = _target(r, fmt)
        if not words:
            raise MckdError(f"training record {rid}: empty source")
        if not isinstance(tgt, str) or not tgt.strip():
            raise MckdError(f"training record {rid}: no target for format {fmt!r} "
                            "(need 'target' or 'targets'.{fmt})")
        out.append({"id": str(rid), "words": words, "target": tgt})
    if not out:
        raise MckdError("no training records")
    return out


def records_fingerprint(recs: list[dict]) -> str:
    h = hashlib.sha256()
    for r in recs:
        h.update(json.dumps([r["words"], r["target"]], ensure_ascii=False).encode("utf-8"))
        h.update(b"\n")
    return h.hexdigest()


def make_batches(lengths: list[int], batch_size: int, bucket: int, seed: int, epoch: int) -> list[list[int]]:
    """Length-bucketed batches: shuffle, sort each bucket of `bucket` batches by length, shuffle
    the batches. A pure function of (seed, epoch), which is what makes resuming exact."""
    rng = random.Random(seed * 1_000_003 + epoch)
    idx = list(range(len(lengths)))
    rng.shuffle(idx)
    span = batch_size * max(1, bucket)
    batches = []
    for s in range(0, len(idx), span):
        chunk = sorted(idx[s:s + span], key=lambda i: lengths[i])
        batches += [chunk[j:j + batch_size] for j in range(0, len(chunk), batch_size)]
    rng.shuffle(batches)
    return batches


def _pad(seqs, value, torch):
    n = max(len(s) for s in seqs)
    t = torch.full((len(seqs), n), value, dtype=torch.long)
    for i, s in enumerate(seqs):
        t[i, :len(s)] = torch.tensor(s, dtype=torch.long)
    return t


# ----------------------------------------------------------------------------- fidelity
def _spans(tree: str) -> set | None:
    """Constituent spans (start, end) covering >= 2 leaves; None if the brackets don't balance."""
    stack, spans, pos = [], set(), 0
    for u in tree_units(tree):
        if u.startswith("("):
            stack.append(pos)
        elif u == ")":
            if not stack:
                return None
            s = stack.pop()
            if pos - s >= 2:
                spans.add((s, pos))
        else:
            pos += 1
    return spans if not stack else None


def fidelity_f1(preds: list[str], labels: list[str], fmt: str) -> float:
    """Sentence-averaged F1 (0-100) of predictions against the student's own training labels:
    unlabeled span F1 for trees, token F1 for text."""
    tot = 0.0
    for p, g in zip(preds, labels):
        if fmt == "text":
            pt, gt = p.split(), g.split()
            common = sum(min(pt.count(w), gt.count(w)) for w in set(pt))
            tot += 1.0 if not pt and not gt else (2 * common / (len(pt) + len(gt)) if common else 0.0)
            continue
        ps, gs = _spans(p), _spans(g)
        if ps is None or gs is None:
            continue
        if not ps and not gs:
            tot += 1.0
            continue
        c = len(ps & gs)
        tot += 2 * c / (len(ps) + len(gs)) if c else 0.0
    return 100.0 * tot / max(1, len(preds))


def greedy_decode(model, tok: StudentTokenizer, words_list: list[list[str]], bound: dict,
                  device, batch_size: int = 64, min_new_tokens: int = 0) -> list[list[int]]:
    """PyTorch greedy decoding with the same per-batch length limit as `mckd relabel`."""
    import torch

    if tok.causal:
        from .student_causal import greedy_decode as causal_greedy

        return causal_greedy(model, tok, words_list, bound, device, min_new_tokens)
    srcs = [tok.encode_source(w) for w in words_list]
    order = sorted(range(len(srcs)), key=lambda i: len(srcs[i]))
    out: list[list[int]] = [None] * len(srcs)
    was_training = model.training
    model.eval()
    with torch.no_grad():
        for s in range(0, len(order), batch_size):
            ids = order[s:s + batch_size]
            x = _pad([srcs[i] for i in ids], tok.pad_id, torch).to(device)
            limit = max(max_decoding_length(bound, len(words_list[i]), len(srcs[i])) for i in ids)
            gen = model.generate(input_ids=x, attention_mask=(x != tok.pad_id).long(),
                                 max_new_tokens=limit, num_beams=1, do_sample=False,
                                 min_new_tokens=min_new_tokens, forced_bos_token_id=None,
                                 forced_eos_token_id=None)
            start = model.config.decoder_start_token_id
            for row, i in zip(gen.tolist(), ids):
                if row and row[0] == start:
                    row = row[1:]
                seq = []
                for t in row:
                    if t == tok.eos_id:
                        break
                    if t == tok.pad_id:
                        continue
                    seq.append(t)
                out[i] = seq
    model.train(was_training)
    return out


def measure_fidelity(model, tok, recs, bound, device, sample_ids) -> float:
    from .relabel import repair_output

    words = [recs[i]["words"] for i in sample_ids]
    gen = greedy_decode(model, tok, words, bound, device)
    preds = [repair_output(tok.decode(tok.ids_to_tokens(g), w), w, tok.format)[0] for g, w in zip(gen, words)]
    labels = [recs[i]["target"] for i in sample_ids]
    return fidelity_f1(preds, labels, tok.format)


# ----------------------------------------------------------------------------- checkpoints
def _save_checkpoint(path: Path, obj: dict) -> None:
    import torch

    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        torch.save(obj, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _load_checkpoint(path: Path) -> dict:
    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - a torn or foreign file
        raise MckdError(f"{path}: unreadable checkpoint ({e}); delete it to start over") from None


def _rng_state(torch) -> dict:
    st = {"python": random.getstate(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        st["cuda"] = torch.cuda.get_rng_state_all()
    return st


def _set_rng_state(torch, st: dict) -> None:
    py = st["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    torch.set_rng_state(st["torch"])
    if "cuda" in st and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(st["cuda"])


# ----------------------------------------------------------------------------- setup
def _device(name: str, torch, local_rank: int):
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda":
        if not torch.cuda.is_available():
            raise MckdError("device cuda requested but torch sees no CUDA GPU")
        return torch.device("cuda", local_rank)
    if name != "cpu":
        raise MckdError(f"device {name!r}: expected auto, cpu or cuda")
    return torch.device("cpu")


def _set_threads(cfg: TrainConfig, device, torch) -> None:
    """One intra-op thread for small from-scratch students on CPU (threads=0).

    Their matrices are too small to gain from a second thread, and when the cores are shared
    the OpenMP threads wait on each other: measured on the 2-core dev machine under load,
    t5-micro steps took 0.1-6 s (most ~6 s) with 2 threads and a steady 0.22 s with 1.
    """
    from .student import ARCHS

    if cfg.threads > 0:
        torch.set_num_threads(cfg.threads)
    elif device.type == "cpu" and not cfg.init and ARCHS.get(cfg.arch, {}).get("d_model", 1e9) <= 256:
        torch.set_num_threads(1)


def _dist_env() -> tuple[int, int, int]:
    """(rank, world_size, local_rank) from the torchrun environment; (0, 1, 0) otherwise."""
    return (int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)),
            int(os.environ.get("LOCAL_RANK", 0)))


def _init_tokenizer(cfg: TrainConfig, recs: list[dict], out_dir: Path) -> StudentTokenizer:
    if (out_dir / "mckd_tokenizer.json").exists():  # resuming: the tokenizer is part of the run
        return StudentTokenizer.load(out_dir)
    if cfg.init:
        from .student_causal import is_causal_init, load_tokenizer

        if is_causal_init(cfg.init):  # a decoder-only student: the model's own tokenizer
            return load_tokenizer(cfg.init, cfg.format, cfg.leaves)
        init = Path(cfg.init)
        if (init / "mckd_tokenizer.json").exists():
            return StudentTokenizer.load(init, format=cfg.format,
                                         leaves=cfg.leaves if cfg.format != "text" else "words")
        if not (init / "tokenizer.json").exists():
            try:  # a checkpoint with only a slow (sentencepiece) tokenizer: convert it once
                from transformers import AutoTokenizer

                AutoTokenizer.from_pretrained(init, local_files_only=True).backend_tokenizer.save(
                    str(out_dir / "tokenizer.json"))
                return StudentTokenizer.load(out_dir, format=cfg.format, leaves=cfg.leaves)
            except Exception as e:  # noqa: BLE001
                raise MckdError(f"{init}: no usable tokenizer ({e})") from None
        return StudentTokenizer.load(init, format=cfg.format, leaves=cfg.leaves)
    return build_tokenizer(recs, cfg.format, cfg.leaves, vocab_size=cfg.vocab_size)


def _probes(recs: list[dict], seed: int, k: int = 4) -> list[list[str]]:
    """Inputs for the export's parity check: a few training sentences of different lengths
    plus word-shuffled variants (inputs the student has never seen)."""
    rng = random.Random(seed + 17)
    by_len = sorted(recs, key=lambda r: (len(r["words"]), r["id"]))
    picks = [by_len[int(q * (len(by_len) - 1))]["words"] for q in (0.1, 0.4, 0.7, 0.95)][:k]
    shuffled = []
    for w in (rng.choice(recs)["words"] for _ in range(k)):
        w = list(w)
        rng.shuffle(w)
        shuffled.append(w)
    return [list(p) for p in picks] + shuffled


def _say(cfg: TrainConfig, rank: int, msg: str) -> None:
    if rank == 0 and not cfg.quiet:
        print(msg, file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------- training
def train_student(records: list[dict], out_dir: str | Path, cfg: TrainConfig | None = None) -> Path:
    """Train (or resume training) a student on records; returns the saved HF model folder.

    Records need `source`/`words` and `target` (or `targets[cfg.format]`).
    """
    import torch

    cfg = (cfg or TrainConfig()).resolved()
    out = Path(out_dir)
    rank, world, local_rank = _dist_env()
    distributed = world > 1
    if distributed:
        import torch.distributed as dist

        if not dist.is_initialized():
            backend = "nccl" if (cfg.device != "cpu" and torch.cuda.is_available()) else "gloo"
            dist.init_process_group(backend)
    device = _device(cfg.device, torch, local_rank)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    _set_threads(cfg, device, torch)

    recs = prepare_records(records, cfg.format)
    cfg_fp = {k: v for k, v in asdict(cfg).items() if k not in TrainConfig.RUNTIME}
    fingerprint = hashlib.sha256(json.dumps(
        {"records": records_fingerprint(recs), "cfg": cfg_fp, "world": world},
        sort_keys=True).encode()).hexdigest()

    meta_path = out / META
    if meta_path.exists():
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if meta.get("fingerprint") == fingerprint:
            _say(cfg, rank, f"{out}: already trained with these records and settings")
            return out
        raise MckdError(f"{out}: holds a student trained on other records/settings; "
                        "use another --out folder")
    ckpt_path = out / CHECKPOINT
    ckpt = _load_checkpoint(ckpt_path) if ckpt_path.exists() else None
    if ckpt is not None and ckpt.get("fingerprint") != fingerprint:
        raise MckdError(f"{ckpt_path}: checkpoint of a different training (records or settings "
                        "changed); delete it or use another --out folder")
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)

    # --- tokenizer and tensors -------------------------------------------------------------
    tok = _init_tokenizer(cfg, recs, out)
    if rank == 0:
        tok.save(out)
    src = [tok.encode_source(r["words"]) for r in recs]
    tgt = [tok.encode_target(r["target"]) for r in recs]
    for r, s in zip(recs, src):
        if len(s) > cfg.max_source_len:
            raise MckdError(f"training record {r['id']}: source is {len(s)} tokens, more than "
                            f"max_source_len={cfg.max_source_len}")
    skipped = 0
    if cfg.format in TREE_FORMATS and tok.kind == "mckd" and tok.leaves in ("slots", "indexed"):
        keep = []
        for i, r in enumerate(recs):  # a label whose leaves don't match its words teaches nonsense
            toks = tok.ids_to_tokens(tgt[i][:-1])
            if tok.leaves == "indexed":
                n_leaves = sum(1 for t in toks if is_index(t))
            else:
                n_leaves = sum(1 for t in toks if not (t.startswith("(") or t == ")"))
            if n_leaves == len(r["words"]) and _spans(r["target"]) is not None:
                keep.append(i)
        skipped = len(recs) - len(keep)
        recs, src, tgt = [recs[i] for i in keep], [src[i] for i in keep], [tgt[i] for i in keep]
        if not recs:
            raise MckdError("no training record has a well-formed tree over its own words")
    too_long = [r["id"] for r, t in zip(recs, tgt) if len(t) > cfg.max_target_len]
    if too_long:
        raise MckdError(f"training record {too_long[0]}: target longer than max_target_len="
                        f"{cfg.max_target_len} tokens ({len(too_long)} records); raise it")
    bound = length_stats(tok, [(len(r["words"]), len(s), len(t), r["target"])
                               for r, s, t in zip(recs, src, tgt)])

    # --- model ----------------------------------------------------------------------------
    from . import student as S

    torch.manual_seed(cfg.seed)
    random.seed(cfg.seed)
    if cfg.init:
        if tok.causal:  # a decoder-only student (GGUF or HF causal-LM folder)
            from .student_causal import load_model

            model = load_model(cfg.init)
        else:
            model = S.load_pretrained(cfg.init)
        if model.config.vocab_size < tok.vocab_size:
            model.resize_token_embeddings(tok.vocab_size)
    else:
        model = S.build_model(cfg.arch, tok.vocab_size, tok.pad_id, tok.eos_id, cfg.dropout)
    model.to(device)
    n_params = S.param_count(model)
    raw_model = model
    if distributed:
        from torch.nn.parallel import DistributedDataParallel as DDP

        model = DDP(model, device_ids=[local_rank] if device.type == "cuda" else None)

    no_decay = ("bias", "layer_norm", "layernorm", "norm")
    groups = [
        {"params": [p for n, p in raw_model.named_parameters()
                    if not any(k in n.lower() for k in no_decay)], "weight_decay": cfg.weight_decay},
        {"params": [p for n, p in raw_model.named_parameters()
                    if any(k in n.lower() for k in no_decay)], "weight_decay": 0.0},
    ]
    optimizer = torch.optim.AdamW(groups, lr=cfg.lr, betas=(0.9, 0.999), eps=1e-8)
    lengths = [len(s) + len(t) for s, t in zip(src, tgt)]
    n_batches = len(make_batches(lengths, cfg.batch_size, cfg.bucket, cfg.seed, 0)) // world
    if n_batches == 0:
        raise MckdError(f"{len(recs)} records are too few for {world} ranks")
    steps_per_epoch = math.ceil(n_batches / cfg.grad_accum)
    total_steps = steps_per_epoch * cfg.epochs
    if cfg.max_steps:
        total_steps = min(total_steps, cfg.max_steps)
    warm = int(cfg.warmup * total_steps)

    def lr_lambda(step: int) -> float:  # linear warmup, then linear decay to 0
        if step < warm:
            return (step + 1) / warm
        return max(0.0, (total_steps - step) / max(1, total_steps - warm))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda)

    start_epoch, step, history, fidelity = 0, 0, [], []
    if ckpt is not None:
        raw_model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        scheduler.load_state_dict(ckpt["scheduler"])
        start_epoch, step = ckpt["epoch"], ckpt["step"]
        history, fidelity = list(ckpt["history"]), list(ckpt["fidelity"])
        _set_rng_state(torch, ckpt["rng"])
        _say(cfg, rank, f"resuming {out} after epoch {start_epoch} (step {step})")
    _say(cfg, rank, f"student: {'init ' + cfg.init if cfg.init else cfg.arch}, {n_params / 1e6:.2f}M "
                    f"params, vocab {tok.vocab_size}, {len(recs)} records ({skipped} skipped), "
                    f"format {cfg.format}/{tok.leaves}, {cfg.epochs} epochs × {steps_per_epoch} "
                    f"steps, lr {cfg.lr}, device {device}, world {world}")

    use_bf16 = cfg.bf16 and device.type == "cuda"
    fid_rng = random.Random(cfg.seed + 5)
    fid_ids = sorted(fid_rng.sample(range(len(recs)), min(cfg.fidelity_sample, len(recs))))
    stopped_by = "epochs"
    t_start = time.time()
    epochs_this_run = 0
    for epoch in range(start_epoch, cfg.epochs):
        if cfg.max_steps and step >= cfg.max_steps:
            stopped_by = "max_steps"
            break
        if cfg.stop_after_epochs and epochs_this_run >= cfg.stop_after_epochs:
            _say(cfg, rank, f"stopping after {epochs_this_run} epoch(s) as asked; re-run to resume")
            if distributed:
                dist.barrier()
            return out
        t0 = time.time()
        model.train()
        batches = make_batches(lengths, cfg.batch_size, cfg.bucket, cfg.seed, epoch)
        batches = batches[:n_batches * world][rank::world]
        tot_loss, tot_tok = 0.0, 0
        for bi, b in enumerate(batches):
            if tok.causal:  # one sequence: prompt + target; the loss on the target only
                from .student_causal import make_batch

                batch = make_batch([src[i] for i in b], [tgt[i] for i in b], tok.pad_id, torch)
                x, y, am = (t.to(device) for t in batch)
            else:
                x = _pad([src[i] for i in b], tok.pad_id, torch).to(device)
                y = _pad([tgt[i] for i in b], -100, torch).to(device)
                am = (x != tok.pad_id).long()
            last_micro = (bi + 1) % cfg.grad_accum == 0 or bi + 1 == len(batches)
            sync_ctx = model.no_sync() if (distributed and not last_micro) else _nullctx()
            with sync_ctx:
                with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=use_bf16):
                    loss = model(input_ids=x, attention_mask=am, labels=y).loss
                (loss / cfg.grad_accum).backward()
            n_tok = int((y != -100).sum())
            tot_loss += float(loss.detach()) * n_tok
            tot_tok += n_tok
            if last_micro:
                if cfg.max_grad_norm > 0:
                    torch.nn.utils.clip_grad_norm_(raw_model.parameters(), cfg.max_grad_norm)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                step += 1
                if cfg.log_every and step % cfg.log_every == 0:
                    _say(cfg, rank, f"  step {step}: loss {float(loss):.4f} lr {scheduler.get_last_lr()[0]:.2e}")
                if cfg.max_steps and step >= cfg.max_steps:
                    break
        if distributed:  # the epoch loss over all ranks
            t = torch.tensor([tot_loss, tot_tok], dtype=torch.float64, device=device)
            dist.all_reduce(t)
            tot_loss, tot_tok = float(t[0]), int(t[1])
        epoch_loss = tot_loss / max(1, tot_tok)
        history.append({"epoch": epoch + 1, "loss": round(epoch_loss, 5), "step": step,
                        "lr": scheduler.get_last_lr()[0], "seconds": round(time.time() - t0, 2)})
        msg = f"epoch {epoch + 1}/{cfg.epochs}: loss {epoch_loss:.4f} ({time.time() - t0:.1f}s)"

        stop_now = False
        if cfg.stop == "fidelity":
            f1 = None
            if rank == 0:
                f1 = measure_fidelity(raw_model, tok, recs, bound, device, fid_ids)
            if distributed:
                box = [f1]
                dist.broadcast_object_list(box, src=0)
                f1 = box[0]
            fidelity.append(round(f1, 3))
            history[-1]["fidelity"] = round(f1, 3)
            msg += f", training fidelity F1 {f1:.2f}"
            p = cfg.fidelity_patience
            if len(fidelity) > p and all(abs(fidelity[-i] - fidelity[-i - 1]) < cfg.fidelity_delta
                                         for i in range(1, p + 1)):
                stop_now = True
                stopped_by = "fidelity"
        _say(cfg, rank, msg)
        epochs_this_run += 1
        if rank == 0:
            _save_checkpoint(ckpt_path, {
                "fingerprint": fingerprint, "epoch": epoch + 1, "step": step,
                "model": raw_model.state_dict(), "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(), "rng": _rng_state(torch),
                "history": history, "fidelity": fidelity})
        if distributed:
            dist.barrier()
        if stop_now:
            break

    # --- distributed sanity: every rank must hold the same weights -------------------------
    ddp_check = None
    if distributed:
        h = hashlib.sha256()
        for _, v in sorted(raw_model.state_dict().items()):
            h.update(v.detach().float().cpu().numpy().tobytes())
        hashes = [None] * world
        dist.all_gather_object(hashes, h.hexdigest())
        ddp_check = {"world_size": world, "param_sha256_per_rank": hashes}
        if len(set(hashes)) != 1:
            raise MckdError(f"DDP ranks ended with different weights: {hashes}")

    if rank == 0:
        raw_model.config.use_cache = True
        raw_model.save_pretrained(out)
        import platform

        import transformers

        meta = {
            "fingerprint": fingerprint,
            "format": cfg.format, "leaves": tok.leaves, "tokenizer_kind": tok.kind,
            "arch": None if cfg.init else cfg.arch, "init": cfg.init or None,
            "model_type": raw_model.config.model_type, "params": n_params,
            "train_config": asdict(cfg), "records": len(recs), "skipped_records": skipped,
            "epochs_run": len(history), "steps": step, "stopped_by": stopped_by,
            "history": history, "fidelity": fidelity,
            "seconds_this_run": round(time.time() - t_start, 1),
            "seeds": {"model_init_and_dropout": cfg.seed, "batch_order": f"{cfg.seed}+epoch",
                      "fidelity_sample": cfg.seed + 5, "probes": cfg.seed + 17},
            "length_bound": bound,
            "min_new_tokens": 1 if getattr(raw_model.config, "decoder_start_token_id", None)
            == tok.eos_id else 0,
            "probes": _probes(recs, cfg.seed),
            "ddp": ddp_check,
            "versions": {"torch": torch.__version__, "transformers": transformers.__version__,
                         "python": platform.python_version()},
        }
        if tok.causal:  # T5/BART students keep the meta they always had (no key = seq2seq)
            meta["student_kind"] = "causal"
        from .jsonio import write_json_atomic

        write_json_atomic(meta_path, meta)  # written last: its presence means "finished"
        if not cfg.keep_checkpoint and ckpt_path.exists():
            ckpt_path.unlink()
        _say(cfg, rank, f"saved {out} ({len(history)} epochs, stopped by {stopped_by})")
    if distributed:
        dist.barrier()
    return out


class _nullctx:
    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False
