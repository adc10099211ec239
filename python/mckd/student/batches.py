"""Training records to batches: validation, the records' fingerprint, length-bucketed batches
that are a pure function of (seed, epoch) (which makes resuming exact), the export's probes,
and `inference` (eval mode without gradients) for the trainer's and the parity check's decoding.
"""

from __future__ import annotations

import hashlib
import json
import random
from contextlib import contextmanager

from ..errors import MckdError


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


def pad(seqs, value, torch):
    """A (len(seqs), longest) LongTensor of `seqs`, right-padded with `value`."""
    n = max(len(s) for s in seqs)
    t = torch.full((len(seqs), n), value, dtype=torch.long)
    for i, s in enumerate(seqs):
        t[i, :len(s)] = torch.tensor(s, dtype=torch.long)
    return t


def probes(recs: list[dict], seed: int, k: int = 4) -> list[list[str]]:
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


@contextmanager
def inference(model):
    """Eval mode without gradients; the model's training mode comes back after, also on error
    (the trainer decodes mid-training: fidelity and the dev stop)."""
    import torch

    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        model.train(was_training)
