"""Train a student on (pseudo)labeled records — one readable loop, nanoGPT-style.

    records → tokenizer (built from the data, or the --init model's) → model
    for epoch: length-bucketed batches → AdamW step (grad accumulation, bf16 on CUDA, clipping)
               → checkpoint (model + optimizer + scheduler + RNG, atomic) → optional fidelity
               or dev score (stop=dev keeps the best epoch's weights)
    → save a standard HF folder (config + safetensors + tokenizer.json) + mckd_student.json

Resume: re-running with the same records and config continues after the last finished epoch
and ends with the same weights as an uninterrupted run (batch order is a function of
(seed, epoch); the RNG state is restored). Distributed: launched by `torchrun`, each rank takes
every world_size-th batch and DDP averages the gradients; rank 0 writes.

Settings: `mckd.student.config.TrainConfig`; batches: `batches`; checkpoints: `checkpoint`;
decoding for the fidelity rule: `decode`.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
import sys
import time
from dataclasses import asdict
from pathlib import Path

from ..errors import MckdError
from .. import formats
from ..formats import TREE_FORMATS
from ..metrics.spans import fidelity_f1, spans
from .batches import make_batches, prepare_records, probes, records_fingerprint
from .checkpoint import load_checkpoint, rng_state, save_checkpoint, set_rng_state
from .config import TrainConfig
from .decode import greedy_decode, repair_output
from .kinds import of_tokenizer
from .tokenizer import StudentTokenizer, build_tokenizer, is_index, length_stats

CHECKPOINT = "checkpoint.pt"
META = "mckd_student.json"


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
    from .models import ARCHS

    if cfg.threads > 0:
        torch.set_num_threads(cfg.threads)
    elif device.type == "cpu" and not cfg.init and ARCHS.get(cfg.arch, {}).get("d_model", 1e9) <= 256:
        torch.set_num_threads(1)


def _return_freed_memory() -> None:
    """Large CPU tensors straight from mmap, so that memory freed is given back at once.

    glibc raises its mmap threshold as blocks are freed and then keeps freed tensors' memory
    in its heap, where the next batch's differently shaped tensors fit it badly: a SmolLM2-135M
    student at batch 16 held 4.1 GB at its peak, 2.7 GB with the threshold fixed at 128 KiB
    (the same weights; benchmarks/bench_student_speed.py measures both sides)."""
    import ctypes
    import ctypes.util

    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt(-3, 128 * 1024)  # M_MMAP_THRESHOLD (glibc); a no-op elsewhere
    except (OSError, AttributeError):
        pass


def _dist_env() -> tuple[int, int, int]:
    """(rank, world_size, local_rank) from the torchrun environment; (0, 1, 0) otherwise."""
    return (int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)),
            int(os.environ.get("LOCAL_RANK", 0)))


def _init_tokenizer(cfg: TrainConfig, recs: list[dict], out_dir: Path) -> StudentTokenizer:
    if (out_dir / "mckd_tokenizer.json").exists():  # resuming: the tokenizer is part of the run
        return StudentTokenizer.load(out_dir)
    if cfg.init:  # the init model's kind knows its tokenizer
        from .kinds import of_init

        return of_init(cfg.init).init_tokenizer(cfg, out_dir)
    return build_tokenizer(recs, cfg.format, cfg.leaves, vocab_size=cfg.vocab_size)


def _say(cfg: TrainConfig, rank: int, msg: str) -> None:
    if rank == 0 and not cfg.quiet:
        print(msg, file=sys.stderr, flush=True)


def peak_memory_mb(device, torch) -> dict:
    """The process's peak resident memory so far, and on CUDA the peak the allocator held: what a
    machine must have for this training run (a 135M student at batch 16 held 13-15 GB on CPU)."""
    import resource

    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    out = {"peak_rss_mb": round(rss / (2**20 if sys.platform == "darwin" else 2**10))}
    if getattr(device, "type", str(device)) == "cuda":
        out["peak_cuda_mb"] = round(torch.cuda.max_memory_allocated(device) / 2**20)
    return out


def measure_fidelity(model, tok, recs, bound, device, sample_ids) -> float:
    """F1 of the model's greedy (repaired) outputs against its own labels on `sample_ids`."""
    words = [recs[i]["words"] for i in sample_ids]
    gen = greedy_decode(model, tok, words, bound, device)
    preds = [repair_output(tok.decode(tok.ids_to_tokens(g), w), w, tok.format)[0]
             for g, w in zip(gen, words)]
    return fidelity_f1(preds, [recs[i]["target"] for i in sample_ids], tok.format)


def measure_dev(model, tok, dev, bound, device, fmt) -> float:
    """F1 of the model's outputs against labeled dev records, decoded as `mckd relabel` will
    decode them: under the tree constraint for decoder-only students of tree formats (without
    it a causal student writes few trees early on, and the score would measure that), freely
    otherwise. Nothing is repaired: a free output that is not a tree over exactly its words
    scores 0."""
    words = [r["words"] for r in dev]
    kind = of_tokenizer(tok)
    if kind.can_constrain and formats.get(fmt).constrained:
        preds = kind.constrained_greedy(model, tok, words, bound, device, fmt)
    else:
        gen = greedy_decode(model, tok, words, bound, device)
        preds = [tok.decode(tok.ids_to_tokens(g), w) for g, w in zip(gen, words)]
        if fmt in TREE_FORMATS:  # what the repair would have to change scores nothing
            preds = ["" if repair_output(p, w, fmt)[2] else p for p, w in zip(preds, words)]
    return fidelity_f1(preds, [r["target"] for r in dev], fmt)


# ----------------------------------------------------------------------------- pieces of a run
def _fingerprint(cfg: TrainConfig, recs: list[dict], world: int,
                 dev: list[dict] | None = None) -> str:
    """What the weights depend on: the records, the settings that change learning, the world
    and, where they pick the epoch (stop=dev), the dev records."""
    cfg_fp = {k: v for k, v in asdict(cfg).items() if k not in TrainConfig.RUNTIME}
    if cfg.stop != "dev":  # used by nothing else: students trained before it existed stay current
        cfg_fp.pop("dev_patience")
    what = {"records": records_fingerprint(recs), "cfg": cfg_fp, "world": world}
    if dev is not None:
        what["dev"] = records_fingerprint(dev)
    return hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()


def _encode(cfg: TrainConfig, tok: StudentTokenizer, recs: list[dict]):
    """(records, sources, targets, skipped): token ids, the sources checked against
    max_source_len, and records whose label does not fit their words dropped."""
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
            if n_leaves == len(r["words"]) and spans(r["target"]) is not None:
                keep.append(i)
        skipped = len(recs) - len(keep)
        recs, src, tgt = [recs[i] for i in keep], [src[i] for i in keep], [tgt[i] for i in keep]
        if not recs:
            raise MckdError("no training record has a well-formed tree over its own words")
    too_long = [r["id"] for r, t in zip(recs, tgt) if len(t) > cfg.max_target_len]
    if too_long:
        raise MckdError(f"training record {too_long[0]}: target longer than max_target_len="
                        f"{cfg.max_target_len} tokens ({len(too_long)} records); raise it")
    return recs, src, tgt, skipped


def _model(cfg: TrainConfig, tok: StudentTokenizer, torch):
    """A fresh from-scratch student, or the --init model (seq2seq or decoder-only)."""
    from . import models as S

    torch.manual_seed(cfg.seed)
    random.seed(cfg.seed)
    if not cfg.init:
        return S.build_model(cfg.arch, tok.vocab_size, tok.pad_id, tok.eos_id, cfg.dropout)
    model = of_tokenizer(tok).load(cfg.init)
    if model.config.vocab_size < tok.vocab_size:
        model.resize_token_embeddings(tok.vocab_size)
    return model


def _optimizer(cfg: TrainConfig, model, total_steps: int, torch):
    """AdamW without decay on biases and norms; linear warmup, then linear decay to 0."""
    no_decay = ("bias", "layer_norm", "layernorm", "norm")
    named = list(model.named_parameters())
    groups = [
        {"params": [p for n, p in named if not any(k in n.lower() for k in no_decay)],
         "weight_decay": cfg.weight_decay},
        {"params": [p for n, p in named if any(k in n.lower() for k in no_decay)],
         "weight_decay": 0.0},
    ]
    optimizer = torch.optim.AdamW(groups, lr=cfg.lr, betas=(0.9, 0.999), eps=1e-8)
    warm = int(cfg.warmup * total_steps)

    def lr_lambda(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        return max(0.0, (total_steps - step) / max(1, total_steps - warm))

    return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda)


def _batch_tensors(tok: StudentTokenizer, src, tgt, b: list[int], device, torch):
    """(input_ids, labels, attention_mask) of batch `b`; labels -100 where no loss is taken."""
    return of_tokenizer(tok).batch(tok, [src[i] for i in b], [tgt[i] for i in b], device, torch)


def _loss(model, tok: StudentTokenizer, x, y, am):
    """The training loss of one batch, as the student's kind takes it."""
    return of_tokenizer(tok).loss(model, x, y, am)


def check_largest_batch(model, tok: StudentTokenizer, src, tgt, lengths: list[int],
                        batch_size: int, device, torch, bf16: bool = False) -> tuple[int, int]:
    """One forward and backward pass of the largest batch any epoch can hold (the `batch_size`
    longest records), thrown away: a batch that does not fit in memory fails here, in the first
    minute, not an hour into an epoch (on a 24 GB CPU machine a 0.5B student at batch 16 was
    killed 20 minutes in). Weights, gradients and the random state are left as they were.
    `lengths`: each record's tokens, as the batches are made from. Returns (sentences, tokens
    of the longest)."""
    longest = sorted(range(len(lengths)), key=lengths.__getitem__)[-batch_size:]
    x, y, am = _batch_tensors(tok, src, tgt, longest, device, torch)
    cuda = [device.index or 0] if device.type == "cuda" else []
    try:
        with torch.random.fork_rng(devices=cuda):
            with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=bf16):
                loss = _loss(model, tok, x, y, am)
            loss.backward()
    except (torch.cuda.OutOfMemoryError, RuntimeError) as e:
        text = str(e)
        if not isinstance(e, torch.cuda.OutOfMemoryError) and "can't allocate memory" not in text \
                and "out of memory" not in text.lower():
            raise
        raise MckdError(
            f"the largest batch ({len(longest)} sentences of up to {max(lengths)} tokens) does "
            f"not fit in {device.type} memory: lower student.batch_size and raise "
            "student.grad_accum to keep the same batch per update") from None
    finally:
        model.zero_grad(set_to_none=True)
    return len(longest), max(lengths)


def _same_weights_on_all_ranks(raw_model, world: int, dist) -> dict:
    h = hashlib.sha256()
    for _, v in sorted(raw_model.state_dict().items()):
        h.update(v.detach().float().cpu().numpy().tobytes())
    hashes = [None] * world
    dist.all_gather_object(hashes, h.hexdigest())
    if len(set(hashes)) != 1:
        raise MckdError(f"DDP ranks ended with different weights: {hashes}")
    return {"world_size": world, "param_sha256_per_rank": hashes}


# ----------------------------------------------------------------------------- training
def train_student(records: list[dict], out_dir: str | Path, cfg: TrainConfig | None = None,
                  dev_records: list[dict] | None = None) -> Path:
    """Train (or resume training) a student on records; returns the saved HF model folder.

    Records need `source`/`words` and `target` (or `targets[cfg.format]`). `dev_records` (same
    shape, e.g. the gold examples) are needed by stop=dev and used by nothing else.
    """
    import torch

    cfg = (cfg or TrainConfig()).resolved()
    out = Path(out_dir)
    if cfg.quiet or not cfg.progress or not sys.stderr.isatty():
        # transformers' own bars (loading a GGUF, writing shards) follow the same rule as ours
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
    rank, world, local_rank, dist, device = _place(cfg, torch)
    distributed = world > 1

    # --- finished already, resuming, or new --------------------------------------------------
    recs, dev = _records(cfg, records, dev_records)
    fingerprint = _fingerprint(cfg, recs, world, dev)
    ckpt_path = out / CHECKPOINT
    ckpt = _done_or_checkpoint(out, fingerprint)
    if ckpt == "done":
        _say(cfg, rank, f"{out}: already trained with these records and settings")
        return out
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)

    # --- tokenizer, tensors, model, optimizer ------------------------------------------------
    tok = _init_tokenizer(cfg, recs, out)
    if formats.get(cfg.format).tags and tok.tags is None:  # what constrained decoding allows
        from ..teacher.constraint import TagGrammar

        tok.tags = TagGrammar.from_targets(cfg.format, [r["target"] for r in recs]).tags
    if rank == 0:
        tok.save(out)
    recs, src, tgt, skipped = _encode(cfg, tok, recs)
    bound = length_stats(tok, [(len(r["words"]), len(s), len(t), r["target"])
                               for r, s, t in zip(recs, src, tgt)])
    from .models import param_count

    raw_model, model, recompute = _build(cfg, tok, device, local_rank, distributed, torch)
    n_params = param_count(raw_model)

    lengths = [len(s) + len(t) for s, t in zip(src, tgt)]
    n_batches = len(make_batches(lengths, cfg.batch_size, cfg.bucket, cfg.seed, 0)) // world
    if n_batches == 0:
        raise MckdError(f"{len(recs)} records are too few for {world} ranks")
    steps_per_epoch = math.ceil(n_batches / cfg.grad_accum)
    total_steps = steps_per_epoch * cfg.epochs
    if cfg.max_steps:
        total_steps = min(total_steps, cfg.max_steps)
    optimizer, scheduler = _optimizer(cfg, raw_model, total_steps, torch)

    # epochs done, optimizer steps, per-epoch records, fidelity probes; stop=dev: {"f1",
    # "epoch", "model"} of the best epoch so far; inside an epoch (checkpoint_minutes): the
    # batches of epoch `start_epoch` done, their loss sums and seconds (the batch order of an
    # epoch is fixed by its seed, so a resume skips them)
    start_epoch, step, history, fidelity, best, partial = 0, 0, [], [], None, None
    if ckpt is not None:
        start_epoch, step, history, fidelity, best, partial = _resume(
            ckpt, raw_model, optimizer, scheduler, torch)
        within = f", {partial['batches']} batches into epoch {start_epoch + 1}" if partial else ""
        _say(cfg, rank, f"resuming {out} after epoch {start_epoch}{within} (step {step})")
    _say(cfg, rank, f"student: {'init ' + cfg.init if cfg.init else cfg.arch}, {n_params / 1e6:.2f}M "
                    f"params, vocab {tok.vocab_size}, {len(recs)} records ({skipped} skipped), "
                    f"format {cfg.format}/{tok.leaves}, {cfg.epochs} epochs × {steps_per_epoch} "
                    f"steps, lr {cfg.lr}, device {device}, world {world}"
                    + (", activations recomputed in backward" if recompute else ""))

    # --- the loop ----------------------------------------------------------------------------
    use_bf16 = cfg.bf16 and device.type == "cuda"
    if start_epoch < cfg.epochs:
        raw_model.train()
        n_b, n_t = check_largest_batch(raw_model, tok, src, tgt, lengths, cfg.batch_size, device,
                                       torch, use_bf16)
        _say(cfg, rank, f"memory: the largest batch ({n_b} sentences, up to {n_t} tokens) fits")
    fid_rng = random.Random(cfg.seed + 5)
    fid_ids = sorted(fid_rng.sample(range(len(recs)), min(cfg.fidelity_sample, len(recs))))
    stopped_by = "epochs"
    t_start = last_save = time.time()
    epochs_this_run = 0

    def checkpoint(epochs_done: int, part: dict | None) -> float:
        """Save everything a resume needs (`part`: how far into epoch `epochs_done` + 1);
        returns the time of the save."""
        save_checkpoint(ckpt_path, {
            "fingerprint": fingerprint, "epoch": epochs_done, "step": step,
            "model": raw_model.state_dict(), "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(), "rng": rng_state(torch),
            "history": history, "fidelity": fidelity,
            **({"best": best} if best else {}), **({"partial": part} if part else {})})
        return time.time()

    for epoch in range(start_epoch, cfg.epochs):
        if cfg.max_steps and step >= cfg.max_steps:
            stopped_by = "max_steps"
            break
        if cfg.stop_after_epochs and epochs_this_run >= cfg.stop_after_epochs:
            _say(cfg, rank, f"stopping after {epochs_this_run} epoch(s) as asked; re-run to resume")
            if distributed:
                dist.barrier()
            return out
        model.train()
        batches = make_batches(lengths, cfg.batch_size, cfg.bucket, cfg.seed, epoch)
        batches = batches[:n_batches * world][rank::world]
        done, partial = partial or {"batches": 0, "loss": 0.0, "tokens": 0, "seconds": 0.0}, None
        skip, tot_loss, tot_tok = done["batches"], done["loss"], done["tokens"]
        t0 = time.time() - done["seconds"]
        from ..progress import bar as progress_bar

        pbar = progress_bar(len(batches) - skip, f"epoch {epoch + 1}/{cfg.epochs}", "batch",
                            rank == 0 and not cfg.quiet and cfg.progress)
        for bi, b in enumerate(batches):
            if bi < skip:  # done before the interruption (in the checkpoint's weights)
                continue
            last_micro = (bi + 1) % cfg.grad_accum == 0 or bi + 1 == len(batches)
            lv, n_tok = _backward(cfg, model, tok, _batch_tensors(tok, src, tgt, b, device, torch),
                                  device, torch, use_bf16,
                                  no_sync=distributed and not last_micro)
            if not math.isfinite(lv):
                # seen on an H200: a from-scratch t5-small at the default lr 2e-3 went NaN in its
                # first epoch and trained on, saved and exported a NaN model without a word
                raise MckdError(
                    f"{out}: the training loss became {lv} at epoch {epoch + 1}, batch {bi + 1} "
                    f"(lr {cfg.lr}, bf16 {use_bf16}); nothing of this "
                    "epoch is kept. Lower student.lr (or set student.bf16=false) and re-run")
            tot_loss += lv * n_tok
            tot_tok += n_tok
            if pbar is not None:
                pbar.update(1)
                pbar.set_postfix(loss=f"{lv:.3f}", refresh=False)
            if last_micro:
                if cfg.max_grad_norm > 0:
                    torch.nn.utils.clip_grad_norm_(raw_model.parameters(), cfg.max_grad_norm)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                step += 1
                if cfg.log_every and step % cfg.log_every == 0:
                    _say(cfg, rank, f"  step {step}: loss {lv:.4f} lr {scheduler.get_last_lr()[0]:.2e}")
                if cfg.max_steps and step >= cfg.max_steps:
                    break
                if cfg.checkpoint_minutes > 0 and not distributed and bi + 1 < len(batches) \
                        and time.time() - last_save >= 60 * cfg.checkpoint_minutes:
                    last_save = checkpoint(epoch, {"batches": bi + 1, "loss": tot_loss,
                                                   "tokens": tot_tok, "seconds": time.time() - t0})
        if pbar is not None:
            pbar.close()
        if distributed:  # the epoch loss over all ranks
            t = torch.tensor([tot_loss, tot_tok], dtype=torch.float64, device=device)
            dist.all_reduce(t)
            tot_loss, tot_tok = float(t[0]), int(t[1])
        msg = _epoch_record(cfg, history, epoch, tot_loss / max(1, tot_tok), step,
                            scheduler.get_last_lr()[0], time.time() - t0, device, torch)

        stop_now, best, note = _stop_rule(cfg, raw_model, tok, epoch, history, fidelity, best,
                                          lambda: measure_fidelity(raw_model, tok, recs, bound,
                                                                   device, fid_ids),
                                          lambda: measure_dev(raw_model, tok, dev, bound, device,
                                                              cfg.format),
                                          rank, dist if distributed else None)
        if stop_now:
            stopped_by = cfg.stop
        _say(cfg, rank, msg + note)
        epochs_this_run += 1
        if rank == 0:
            last_save = checkpoint(epoch + 1, None)
        if distributed:
            dist.barrier()
        if stop_now:
            break

    # --- save: the HF folder, then the meta that says "finished" -----------------------------
    ddp_check = _same_weights_on_all_ranks(raw_model, world, dist) if distributed else None
    if rank == 0:
        if best is not None and best["epoch"] != len(history):
            raw_model.load_state_dict(best["model"])
            _say(cfg, rank, f"keeping epoch {best['epoch']}'s weights (dev F1 {best['f1']:.2f})")
        meta = _student_meta(cfg, tok, raw_model, torch, fingerprint=fingerprint,
                             params=n_params, records=recs, skipped=skipped, history=history,
                             step=step, stopped_by=stopped_by, fidelity=fidelity, best=best,
                             dev=dev, seconds=time.time() - t_start, bound=bound, ddp=ddp_check)
        _save(cfg, raw_model, out, meta)
        _say(cfg, rank, f"saved {out} ({len(history)} epochs, stopped by {stopped_by})")
    if distributed:
        dist.barrier()
    return out


def _resume(ckpt: dict, raw_model, optimizer, scheduler, torch) -> tuple:
    """Weights, optimizer, schedule and random state from a checkpoint; returns (epochs done,
    step, history, fidelity, best, partial) as the training loop keeps them."""
    raw_model.load_state_dict(ckpt["model"])
    optimizer.load_state_dict(ckpt["optimizer"])
    scheduler.load_state_dict(ckpt["scheduler"])
    set_rng_state(torch, ckpt["rng"])
    return (ckpt["epoch"], ckpt["step"], list(ckpt["history"]), list(ckpt["fidelity"]),
            ckpt.get("best"), ckpt.get("partial"))


def _records(cfg: TrainConfig, records: list[dict], dev_records: list[dict] | None):
    """(training records, dev records or None): prepared, and the dev records held out."""
    recs = prepare_records(records, cfg.format)
    if cfg.stop != "dev":
        return recs, None
    if not dev_records:
        raise MckdError("stop=dev needs labeled dev records (mckd train --dev FILE)")
    dev = prepare_records(dev_records, cfg.format)
    overlap = {r["id"] for r in dev} & {r["id"] for r in recs}
    if overlap:  # an epoch picked on records it trained on picks the most memorised one
        raise MckdError(f"{len(overlap)} dev records are also training records "
                        f"(first: {sorted(overlap)[0]}); the dev records must be held out")
    return recs, dev


def _done_or_checkpoint(out: Path, fingerprint: str):
    """"done" where `out` holds this very training finished; its checkpoint to resume from, or
    None to start; an error where `out` holds another training's student or checkpoint."""
    meta_path, ckpt_path = out / META, out / CHECKPOINT
    if meta_path.exists():
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if meta.get("fingerprint") == fingerprint:
            return "done"
        raise MckdError(f"{out}: holds a student trained on other records/settings; "
                        "use another --out folder")
    ckpt = load_checkpoint(ckpt_path) if ckpt_path.exists() else None
    if ckpt is not None and ckpt.get("fingerprint") != fingerprint:
        raise MckdError(f"{ckpt_path}: checkpoint of a different training (records or settings "
                        "changed); delete it or use another --out folder")
    return ckpt


def _save(cfg: TrainConfig, raw_model, out: Path, meta: dict) -> None:
    """The HF folder, then the meta that says "finished" (written last), then the checkpoint
    goes unless kept."""
    from ..jsonio import honour_umask, write_json_atomic

    raw_model.config.use_cache = True
    raw_model.save_pretrained(out)
    honour_umask(out)  # transformers writes model.safetensors 0600 through a temp file
    write_json_atomic(out / META, meta)  # written last: its presence means "finished"
    ckpt_path = out / CHECKPOINT
    if not cfg.keep_checkpoint and ckpt_path.exists():
        ckpt_path.unlink()


def _epoch_record(cfg: TrainConfig, history: list, epoch: int, loss: float, step: int, lr: float,
                  seconds: float, device, torch) -> str:
    """Append epoch `epoch`'s record (loss, step, lr, seconds, peak memory) to `history`;
    returns its log line."""
    mem = peak_memory_mb(device, torch)
    history.append({"epoch": epoch + 1, "loss": round(loss, 5), "step": step, "lr": lr,
                    "seconds": round(seconds, 2), **mem})
    return (f"epoch {epoch + 1}/{cfg.epochs}: loss {loss:.4f} ({seconds:.1f}s, "
            + ", ".join(f"{k[:-3].replace('_', ' ')} {v:,} MB" for k, v in mem.items()) + ")")


def _backward(cfg: TrainConfig, model, tok, batch, device, torch, bf16: bool,
              no_sync: bool) -> tuple[float, int]:
    """Forward and backward of one micro-batch (gradients accumulate; DDP syncs them only on
    the last micro-batch of a step). Returns (its loss, its target tokens)."""
    x, y, am = batch
    with model.no_sync() if no_sync else _nullctx():
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=bf16):
            loss = _loss(model, tok, x, y, am)
        (loss / cfg.grad_accum).backward()
    return float(loss.detach()), int((y != -100).sum())


def _place(cfg: TrainConfig, torch):
    """(rank, world, local rank, torch.distributed or None, device): where this process trains;
    joins the process group under torchrun."""
    rank, world, local_rank = _dist_env()
    dist = None
    if world > 1:
        import torch.distributed as dist

        if not dist.is_initialized():
            backend = "nccl" if (cfg.device != "cpu" and torch.cuda.is_available()) else "gloo"
            dist.init_process_group(backend)
    device = _device(cfg.device, torch, local_rank)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    else:
        _return_freed_memory()
    _set_threads(cfg, device, torch)
    return rank, world, local_rank, dist, device


def _build(cfg: TrainConfig, tok, device, local_rank: int, distributed: bool, torch):
    """(the model, the module the loop calls: DDP-wrapped under torchrun, whether activations
    are recomputed in the backward pass: grad_checkpoint=on, or auto for causal students on a
    CPU, where they were most of the memory)."""
    raw_model = _model(cfg, tok, torch)
    raw_model.to(device)
    recompute = cfg.grad_checkpoint == "on" or (
        cfg.grad_checkpoint == "auto" and of_tokenizer(tok).recompute_on_cpu
        and device.type == "cpu")
    if recompute:  # same gradients, activations recomputed layer by layer
        if hasattr(raw_model, "activation_checkpointing_enable"):  # transformers >= 5
            raw_model.activation_checkpointing_enable({"use_reentrant": False})
        else:
            raw_model.gradient_checkpointing_enable({"use_reentrant": False})
    model = raw_model
    if distributed:
        from torch.nn.parallel import DistributedDataParallel as DDP

        model = DDP(raw_model, device_ids=[local_rank] if device.type == "cuda" else None)
    return raw_model, model, recompute


def _stop_rule(cfg: TrainConfig, raw_model, tok, epoch: int, history: list, fidelity: list,
               best: dict | None, fidelity_f1, dev_f1, rank: int, dist) -> tuple[bool, dict | None, str]:
    """After an epoch: (stop now, the best epoch so far, what to add to its log line) by the
    stop rule. stop=fidelity (the paper's): stop when training fidelity stops moving;
    stop=dev: early stopping on held-out labeled records, keeping the best epoch's weights.
    Rank 0 measures; under DDP (`dist`) the others are told."""
    def on_all_ranks(value):
        if dist is None:
            return value
        box = [value]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    if cfg.stop == "fidelity":
        f1 = on_all_ranks(fidelity_f1() if rank == 0 else None)
        fidelity.append(round(f1, 3))
        history[-1]["fidelity"] = round(f1, 3)
        p = cfg.fidelity_patience
        stop = len(fidelity) > p and all(abs(fidelity[-i] - fidelity[-i - 1]) < cfg.fidelity_delta
                                         for i in range(1, p + 1))
        return stop, best, f", training fidelity F1 {f1:.2f}"
    if cfg.stop == "dev":
        f1 = on_all_ranks(dev_f1() if rank == 0 else None)
        history[-1]["dev_f1"] = round(f1, 3)
        if rank == 0 and (best is None or f1 > best["f1"]):
            best = {"f1": round(f1, 3), "epoch": epoch + 1,
                    "model": {k: v.detach().clone() for k, v in raw_model.state_dict().items()}}
        best_epoch = on_all_ranks(best["epoch"] if rank == 0 else None)
        return epoch + 1 - best_epoch >= cfg.dev_patience, best, f", dev F1 {f1:.2f}"
    return False, best, ""


def _student_meta(cfg: TrainConfig, tok, raw_model, torch, *, fingerprint, params, records, skipped,
                  history, step, stopped_by, fidelity, best, dev, seconds, bound, ddp) -> dict:
    """What a finished student's mckd_student.json says: how it was trained, on what, how it
    stopped, its seeds and length bound, and the versions that trained it."""
    import platform

    import transformers

    meta = {
        "fingerprint": fingerprint,
        "format": cfg.format, "leaves": tok.leaves, "tokenizer_kind": tok.kind,
        "arch": None if cfg.init else cfg.arch, "init": cfg.init or None,
        "model_type": raw_model.config.model_type, "params": params,
        "train_config": asdict(cfg), "records": len(records), "skipped_records": skipped,
        "epochs_run": len(history), "steps": step, "stopped_by": stopped_by,
        "history": history, "fidelity": fidelity,
        **({"dev": {"records": len(dev), "best_epoch": best["epoch"], "best_f1": best["f1"]}}
           if best is not None else {}),
        "seconds_this_run": round(seconds, 1),
        "seeds": {"model_init_and_dropout": cfg.seed, "batch_order": f"{cfg.seed}+epoch",
                  "fidelity_sample": cfg.seed + 5, "probes": cfg.seed + 17},
        "length_bound": bound,
        "min_new_tokens": 1 if getattr(raw_model.config, "decoder_start_token_id", None)
        == tok.eos_id else 0,
        "probes": probes(records, cfg.seed),
        "ddp": ddp,
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__,
                     "python": platform.python_version()},
    }
    meta.update(of_tokenizer(tok).meta())
    return meta


class _nullctx:
    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False
