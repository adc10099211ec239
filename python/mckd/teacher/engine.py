"""llama.cpp through its low-level API: one model, several sequences decoded in each call.

Like the llama.cpp server's parallel slots: every `llama_decode` carries the next token(s) of
each generating sequence plus prompt chunks of sequences that are starting, so the weights are
read once per step for K sentences. A prompt prefix shared by every job (the fixed
demonstrations) is evaluated once into sequence 0 and copied into each slot with
`llama_memory_seq_cp`, so only the per-sentence suffix is ever prefilled. Tokens the constraint
leaves no choice about are fed in the same call as the token before them (jump-forward), with no
logits computed for them.

How a call is cut up matters on CPU. With one KV stream per sequence, llama.cpp splits a call
into micro-batches that hold the same number of tokens of every sequence in them
(`split_equal`), and each micro-batch reads all the weights again. A call where one sequence
feeds 5 forced tokens and the others 1 is then two or more weight passes, the later ones nearly
empty. The `level` schedule feeds every active sequence the same number of tokens per call (the
fewest any of them has pending), so a call is one pass; forced runs still need no logits and
ride along with other sequences' decode steps. `jump` (the older schedule) feeds each sequence
all it has pending.

Counters in `STATS` let callers and tests see how often the model was loaded and called.
"""

from __future__ import annotations

import ctypes
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Iterable, Iterator

import numpy as np

from ..errors import MckdError
from .constraint import TreeConstraint

STATS = {"model_loads": 0, "decode_calls": 0, "decode_s": 0.0, "constraint_s": 0.0,
         "constraint_steps": 0, "forced_tokens": 0, "tokens_fed": 0,
         "ubatches": 0, "moves": 0,  # weight passes llama.cpp's split rule makes of the calls (predicted)
         "call_sizes": {}}  # tokens per llama_decode call -> number of calls
SCHEDULES = ("jump", "level")
_LOG_CB = None  # keep the ctypes callback alive for the life of the process
_BACKEND = False


def _lib():
    """Import llama_cpp, silence its native logging, init the backend once."""
    global _LOG_CB, _BACKEND
    try:
        import llama_cpp as L
    except ImportError as e:
        raise MckdError(f"the teacher needs llama-cpp-python: pip install 'mckd[teacher]' ({e})") \
            from None
    if _LOG_CB is None:
        @L.llama_log_callback
        def _quiet(level, text, user_data):  # llama.cpp logs every tensor on load otherwise
            return None

        _LOG_CB = _quiet
        L.llama_log_set(_LOG_CB, ctypes.c_void_p(0))
    if not _BACKEND:
        L.llama_backend_init()
        _BACKEND = True
    return L


def build_info() -> str:
    """llama-cpp-python's version and the CPU kernels its llama.cpp was compiled with.

    Recorded beside teacher outputs: a native (AVX-512) build and the portable AVX2 one pick
    different kernels, which can flip a near-tied token (benchmarks/RESULTS.md)."""
    L = _lib()
    feats = L.llama_print_system_info().decode(errors="replace")
    on = [kv.split("=")[0].strip() for kv in feats.replace("CPU :", "").split("|")
          if kv.strip().endswith("= 1")]
    return f"llama-cpp-python {L.__version__} ({' '.join(on)})"


class LlamaModel:
    """A loaded GGUF model: weights, tokenizer, token byte strings."""

    def __init__(self, path: str | Path):
        L = self.L = _lib()
        params = L.llama_model_default_params()
        self.path = Path(path)
        self.model = L.llama_model_load_from_file(str(self.path).encode(), params)
        if not self.model:
            raise MckdError(f"{self.path}: llama.cpp could not load this model (unsupported "
                            "architecture or corrupt tensors)")
        STATS["model_loads"] += 1
        self.vocab = L.llama_model_get_vocab(self.model)
        self.n_vocab = int(L.llama_vocab_n_tokens(self.vocab))
        self.add_bos = bool(L.llama_vocab_get_add_bos(self.vocab))
        self.n_ctx_train = int(L.llama_model_n_ctx_train(self.model))
        self._pieces: list[bytes] | None = None
        self.eog = {t for t in range(self.n_vocab) if L.llama_vocab_is_eog(self.vocab, t)}

    def tokenize(self, text: str, add_bos: bool | None = None, special: bool = False) -> list[int]:
        """Token ids of `text` (BOS prepended when the model wants one and add_bos allows);
        `special`: text such as `<|im_start|>` becomes its special token (chat markup)."""
        self._alive()
        data = text.encode("utf-8")
        add = self.add_bos if add_bos is None else (add_bos and self.add_bos)
        cap = len(data) + 8
        buf = (self.L.llama_token * cap)()
        n = self.L.llama_tokenize(self.vocab, data, len(data), buf, cap, add, special)
        if n < 0:
            cap = -n
            buf = (self.L.llama_token * cap)()
            n = self.L.llama_tokenize(self.vocab, data, len(data), buf, cap, add, special)
        if n < 0:
            raise MckdError("llama.cpp failed to tokenize a prompt")
        return list(buf[:n])

    def piece(self, token: int) -> bytes:
        """The bytes a token writes (b'' for control tokens)."""
        self._alive()
        buf = ctypes.create_string_buffer(64)
        n = self.L.llama_token_to_piece(self.vocab, token, buf, 64, 0, False)
        if n < 0:
            buf = ctypes.create_string_buffer(-n)
            n = self.L.llama_token_to_piece(self.vocab, token, buf, -n, 0, False)
        return buf.raw[:max(n, 0)]

    def chat_template(self) -> str | None:
        """The model's own chat template (GGUF `tokenizer.chat_template`), None if it has none."""
        self._alive()
        t = self.L.llama_model_chat_template(self.model, None)
        return t.decode("utf-8", "replace") if t else None

    def special_texts(self) -> tuple[str, str]:
        """The text of the BOS and EOS tokens ('' where the vocabulary has none)."""
        self._alive()
        L = self.L
        out = []
        for t in (L.llama_vocab_bos(self.vocab), L.llama_vocab_eos(self.vocab)):
            raw = L.llama_vocab_get_text(self.vocab, t) if t >= 0 else None
            out.append(raw.decode("utf-8", "replace") if raw else "")
        return out[0], out[1]

    def pieces(self) -> list[bytes]:
        """Bytes of every token id; control/unknown tokens map to b'' (never constrained in)."""
        if self._pieces is None:
            L = self.L
            skip = L.LLAMA_TOKEN_ATTR_CONTROL | L.LLAMA_TOKEN_ATTR_UNKNOWN
            self._pieces = [b"" if (L.llama_vocab_get_attr(self.vocab, t) & skip) else self.piece(t)
                            for t in range(self.n_vocab)]
        return self._pieces

    def _alive(self) -> None:
        # the vocab belongs to the freed model: reading it after close() would crash the process
        if not getattr(self, "model", None):
            raise MckdError(f"{self.path}: the model was closed")

    def close(self) -> None:
        if getattr(self, "model", None):
            self.L.llama_model_free(self.model)
            self.model = None

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass


@dataclass
class Job:
    """One generation: prompt tokens, how much of them sequence 0 already holds, limits."""
    key: str
    tokens: list[int]
    max_new: int
    prefix_len: int = 0
    constraint: TreeConstraint | None = None  # None = free text until a newline
    heal: bytes = b""
    temperature: float = 0.0
    seed: int = 0
    meta: dict = field(default_factory=dict)
    # Students (mckd.student.llama_decode) ask for the log-probability of every token they
    # write, as CTranslate2 scores them: `score_forced` reads the logits of the tokens the
    # constraint forced too (in the same call, no step of their own), and `eos` (the model's
    # end token) adds one step after a complete tree for log P(EOS). The teacher needs neither.
    score_forced: bool = False
    eos: int | None = None


@dataclass
class Result:
    text: str
    tokens: int
    logprob_sum: float
    stop: str  # done | newline | eog | budget | stuck
    scored: int = 0  # tokens the model chose (forced ones are scored only with score_forced)
    # what the model itself wrote, before a constrained tree was closed without it (stuck /
    # budget); None = same as `text`
    raw: str | None = None
    masked: int = 0  # steps where the model's own first choice was not allowed (score_forced jobs)


class _Slot:
    __slots__ = ("sid", "job", "pos", "feed", "n_gen", "n_scored", "lp", "text", "rng", "closing",
                 "n_masked")

    def __init__(self, sid: int):
        self.sid = sid
        self.job: Job | None = None


class BatchDecoder:
    """A llama.cpp context with `n_parallel` generation slots (+ sequence 0 for a prefix)."""

    def __init__(self, model: LlamaModel, *, n_parallel: int, n_ctx_seq: int, n_threads: int,
                 prefix_tokens: list[int] | None = None, n_batch: int = 512,
                 flash_attn: bool | None = None, unified: bool = False,
                 schedule: str = "jump"):
        if schedule not in SCHEDULES:
            raise MckdError(f"unknown decode schedule {schedule!r} (one of {', '.join(SCHEDULES)})")
        self.schedule = schedule
        L = self.L = model.L
        self.model = model
        self.prefix = list(prefix_tokens or [])
        self.has_prefix = bool(self.prefix)
        self.n_parallel = n_parallel
        # KV layout. Separate streams (default): each sequence attends over its own cells only,
        # as a single-sequence run would; the shared prefix is copied from sequence 0's stream
        # (a buffer copy of one stream per new sentence). Unified: one cell pool where the copy
        # is free metadata, but every token attends, masked, over all sequences' cells --
        # measured slower here once 8 sentences of ~150 tokens sit beside a ~1k-token prefix.
        self.unified = unified and self.has_prefix
        n_seq = n_parallel + (1 if self.has_prefix else 0)
        if self.unified:
            n_ctx = len(self.prefix) + n_parallel * n_ctx_seq
        else:
            n_ctx_seq = (n_ctx_seq + 255) // 256 * 256  # llama.cpp pads streams to 256 cells
            n_ctx = n_seq * n_ctx_seq
        self.n_ctx_total = n_ctx
        self.n_batch = max(n_batch, n_parallel)
        cp = L.llama_context_default_params()
        cp.n_ctx = n_ctx
        cp.n_batch = self.n_batch
        cp.n_ubatch = self.n_ubatch = min(self.n_batch, 512)
        cp.n_seq_max = n_seq
        cp.n_threads = n_threads
        cp.n_threads_batch = n_threads
        cp.kv_unified = self.unified
        cp.no_perf = True
        if flash_attn is not None:
            cp.flash_attn_type = 1 if flash_attn else 0
        self.ctx = L.llama_init_from_model(model.model, cp)
        if not self.ctx:
            raise MckdError(f"llama.cpp could not create a context of {n_ctx:,} tokens "
                            f"for {n_parallel} sequences (out of memory?)")
        self.mem = L.llama_get_memory(self.ctx)
        self.batch = L.llama_batch_init(self.n_batch, 0, 1)
        self.n_vocab = model.n_vocab
        self._first_sid = 1 if self.has_prefix else 0
        self._prefix_loaded = False

    def close(self) -> None:
        if getattr(self, "ctx", None):
            self.L.llama_batch_free(self.batch)
            self.L.llama_free(self.ctx)
            self.ctx = None

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    # ---------------------------------------------------------------- low level
    def _decode(self, n: int, seqs: list[int] | None = None) -> None:
        self.batch.n_tokens = n
        STATS["ubatches"] += (ubatch_count(seqs, self.n_ubatch, self.unified) if seqs
                              else -(-n // self.n_ubatch))
        STATS["decode_calls"] += 1
        STATS["tokens_fed"] += n
        STATS["call_sizes"][n] = STATS["call_sizes"].get(n, 0) + 1
        t0 = time.perf_counter()
        rc = self.L.llama_decode(self.ctx, self.batch)
        STATS["decode_s"] += time.perf_counter() - t0
        if rc == 1:
            raise MckdError(f"llama.cpp found no room in the KV cache ({self.n_ctx_total:,} "
                            "tokens); lower --parallel or the context size")
        if rc != 0:
            raise MckdError(f"llama_decode failed with code {rc}")

    def _put(self, n: int, token: int, pos: int, sid: int, logits: bool) -> None:
        b = self.batch
        b.token[n] = token
        b.pos[n] = pos
        b.n_seq_id[n] = 1
        b.seq_id[n][0] = sid
        b.logits[n] = 1 if logits else 0

    def _load_prefix(self) -> None:
        L = self.L
        L.llama_memory_clear(self.mem, True)
        for start in range(0, len(self.prefix), self.n_batch):
            chunk = self.prefix[start:start + self.n_batch]
            for j, t in enumerate(chunk):
                self._put(j, t, start + j, 0, False)
            self._decode(len(chunk))

    # ---------------------------------------------------------------- sampling
    def _choose(self, slot: _Slot, logits: np.ndarray) -> Result | None:
        """Pick slot's next token from `logits`; a Result when the job is finished."""
        job = slot.job
        lse = _logsumexp(logits)
        c = job.constraint
        if slot.closing:  # the tree was complete: this step only scores the end token
            slot.lp += float(logits[job.eos]) - lse
            slot.n_masked += int(logits.argmax()) != job.eos
            return Result(c.output(), c.tokens, slot.lp, "done", slot.n_scored,
                          masked=slot.n_masked)
        if c is not None:
            t0 = time.perf_counter()
            allowed = c.allowed()
            if not allowed:  # the vocabulary cannot spell what must come next
                raw = c.output()
                c.complete()
                return Result(c.output(), c.tokens, slot.lp, "stuck", slot.n_scored, raw)
            ids = np.fromiter(allowed.keys(), dtype=np.int64, count=len(allowed))
            sub = logits[ids]
            t = int(ids[self._pick(sub, slot)])
            if job.score_forced and int(logits.argmax()) not in allowed:
                slot.n_masked += 1  # the model's own first choice was not allowed
            c.advance(t, allowed)
            slot.lp += float(logits[t]) - lse
            slot.n_scored += 1
            feed = [t]
            # jump-forward: tokens the constraint leaves no choice about go into the same
            # decode call, without computing (or needing) their logits
            while not c.done and c.tokens < job.max_new:
                nxt = c.allowed()
                if len(nxt) != 1:
                    break
                (t2,) = nxt
                c.advance(t2, nxt)
                feed.append(t2)
                STATS["forced_tokens"] += 1
            STATS["constraint_s"] += time.perf_counter() - t0
            STATS["constraint_steps"] += 1
            if c.done and job.eos is not None and c.tokens < job.max_new:
                slot.closing = True  # feed the last tokens, then score EOS after them
                slot.feed = feed
                return None
            if c.done:
                return Result(c.output(), c.tokens, slot.lp, "done", slot.n_scored,
                              masked=slot.n_masked)
            if c.tokens >= job.max_new:
                raw = c.output()
                c.complete()
                return Result(c.output(), c.tokens, slot.lp, "budget", slot.n_scored, raw,
                              masked=slot.n_masked)
            slot.feed = feed
            return None
        else:
            t = int(self._pick(logits, slot))
            slot.n_gen += 1
            slot.n_scored += 1
            slot.lp += float(logits[t]) - lse
            if t in self.model.eog:
                return Result(self._text(slot), slot.n_gen, slot.lp, "eog", slot.n_scored)
            piece = self.model.piece(t)
            slot.text += piece
            if b"\n" in piece:
                return Result(self._text(slot), slot.n_gen, slot.lp, "newline", slot.n_scored)
            if slot.n_gen >= job.max_new:
                return Result(self._text(slot), slot.n_gen, slot.lp, "budget", slot.n_scored)
        slot.feed = [t]
        return None

    @staticmethod
    def _text(slot: _Slot) -> str:
        b = slot.text
        h = slot.job.heal
        if h and b.startswith(h):
            b = b[len(h):]
        return b.split(b"\n", 1)[0].decode("utf-8", "replace").strip()

    @staticmethod
    def _pick(scores: np.ndarray, slot: _Slot) -> int:
        temp = slot.job.temperature
        if temp <= 0:
            return int(scores.argmax())
        z = scores.astype(np.float64) / temp
        z -= z.max()
        p = np.exp(z)
        p /= p.sum()
        return int(slot.rng.choice(len(p), p=p))

    # ---------------------------------------------------------------- the loop
    def generate(self, jobs: Iterable[Job]) -> Iterator[tuple[Job, Result]]:
        """Run every job, `n_parallel` at a time; yields (job, result) as each finishes.

        The shared prefix is decoded on the first call only; later calls (the next wave) find
        it in place, with every other sequence removed as its job finished.
        """
        L = self.L
        if self.has_prefix:
            if not self._prefix_loaded:
                self._load_prefix()
                self._prefix_loaded = True
        else:
            L.llama_memory_clear(self.mem, True)
        slots = [_Slot(self._first_sid + k) for k in range(self.n_parallel)]
        queue = iter(jobs)
        exhausted = False
        logits_ptr_type = ctypes.POINTER(ctypes.c_float * self.n_vocab)
        while True:
            for s in slots:  # start new jobs in free slots
                if s.job is None and not exhausted:
                    job = next(queue, None)
                    if job is None:
                        exhausted = True
                        break
                    self._start(s, job)
            active = [s for s in slots if s.job is not None]
            if not active:
                return
            level = self.schedule == "level"
            if level:  # the same number of tokens from every sequence: one weight pass
                each = max(1, min(min(len(s.feed) for s in active),
                                  self.n_batch // len(active)))
            else:
                each = self.n_batch
            # generating slots first (1 token each), then prompt chunks in the remaining room
            take: dict[int, int] = {}
            n = 0
            by_len = sorted(active, key=lambda s: len(s.feed))
            for s in by_len:
                room = min(self.n_batch - n, each)
                if room <= 0:
                    break
                take[s.sid] = min(room, len(s.feed))
                n += take[s.sid]
            # split_equal groups consecutive sequence ids only, so `level` lays them out in order
            order = sorted(active, key=lambda s: s.sid) if level else by_len
            n = 0
            want: list[tuple[_Slot, int]] = []
            forced: list[tuple[_Slot, int, int]] = []  # (slot, batch index, the token after it)
            seqs: list[int] = []
            for s in order:
                k = take.get(s.sid, 0)
                if not k:
                    continue
                last = k == len(s.feed)
                # not the prompt: the feed after a choice (n_scored > 0) holds the forced tokens
                score = s.job.score_forced and s.job.constraint is not None and s.n_scored > 0
                for j in range(k):
                    nxt = j + 1 < len(s.feed) and score
                    self._put(n, s.feed[j], s.pos + j, s.sid, (last and j == k - 1) or nxt)
                    if nxt:
                        forced.append((s, n, s.feed[j + 1]))
                    n += 1
                seqs += [s.sid] * k
                if last:
                    want.append((s, n - 1))
                s.pos += k
                s.feed = s.feed[k:]
            self._decode(n, seqs)
            for s, idx, t in forced:  # log P of each forced token, from the position before it
                ptr = L.llama_get_logits_ith(self.ctx, idx)
                lg = np.ctypeslib.as_array(ctypes.cast(ptr, logits_ptr_type).contents)
                s.lp += float(lg[t]) - _logsumexp(lg)
                s.n_masked += int(lg.argmax()) != t
            finished = False
            for s, idx in want:
                ptr = L.llama_get_logits_ith(self.ctx, idx)
                logits = np.ctypeslib.as_array(ctypes.cast(ptr, logits_ptr_type).contents)
                res = self._choose(s, logits)
                if res is not None:
                    job = s.job
                    L.llama_memory_seq_rm(self.mem, s.sid, -1, -1)
                    s.job = None
                    finished = True
                    yield job, res
            if level and finished:
                self._compact(slots)

    def _compact(self, slots: list[_Slot]) -> None:
        """Move the highest-numbered running sequences into the free slots below them.

        With one KV stream per sequence a micro-batch spans consecutive sequence ids only, so a
        hole left by a finished sentence would cut every later call in two. The move copies one
        stream's buffer (a few MB; exact, so no output changes) instead of a weight pass per
        call."""
        L = self.L
        lo, hi = 0, len(slots) - 1
        while True:
            while lo < hi and slots[lo].job is not None:
                lo += 1
            while hi > lo and slots[hi].job is None:
                hi -= 1
            if lo >= hi:
                return
            a, b = slots[lo], slots[hi]
            L.llama_memory_seq_rm(self.mem, a.sid, -1, -1)
            L.llama_memory_seq_cp(self.mem, b.sid, a.sid, -1, -1)
            L.llama_memory_seq_rm(self.mem, b.sid, -1, -1)
            for name in _Slot.__slots__:
                if name != "sid":  # the slot keeps its stream; the job and its state move
                    setattr(a, name, getattr(b, name))
            b.job = None
            STATS["moves"] += 1

    def _start(self, s: _Slot, job: Job) -> None:
        L = self.L
        L.llama_memory_seq_rm(self.mem, s.sid, -1, -1)
        k = min(job.prefix_len, len(job.tokens) - 1, len(self.prefix)) if self.has_prefix else 0
        if k > 0:
            if self.unified:
                L.llama_memory_seq_cp(self.mem, 0, s.sid, 0, k)
            else:  # across streams llama.cpp copies whole buffers only; then cut back to k
                L.llama_memory_seq_cp(self.mem, 0, s.sid, -1, -1)
                if k < len(self.prefix):
                    L.llama_memory_seq_rm(self.mem, s.sid, k, -1)
        s.job, s.pos, s.feed = job, k, list(job.tokens[k:])
        s.n_gen, s.n_scored, s.lp, s.text, s.closing, s.n_masked = 0, 0, 0.0, b"", False, 0
        s.rng = np.random.default_rng(job.seed) if job.temperature > 0 else None


def _logsumexp(x: np.ndarray) -> float:
    m = float(x.max())
    return m + float(np.log(np.exp(x - m).sum()))


def ubatch_count(seqs: list[int], n_ubatch: int, unified: bool) -> int:
    """Weight passes llama.cpp makes of one call whose i-th token belongs to sequence seqs[i].

    A unified cache splits the call into chunks of n_ubatch tokens. With one KV stream per
    sequence, `llama_batch_allocr::split_equal(n_ubatch, sequential=true)` builds each
    micro-batch from sequences met in batch order whose ids follow one another (id = last + 1),
    and takes the same number of tokens from each: as many as the one with the fewest left has
    (and at most n_ubatch in all). This replays that rule."""
    if unified:
        return -(-len(seqs) // n_ubatch)
    pending: dict[int, int] = {}
    first: dict[int, int] = {}
    for i, sid in enumerate(seqs):
        pending[sid] = pending.get(sid, 0) + 1
        first.setdefault(sid, i)
    passes = 0
    while pending:
        chosen: list[int] = []
        # the scan meets each sequence first at its earliest token not yet used; tokens of one
        # sequence are used front to back, so the earliest unused one keeps the sequence's order
        for sid in sorted(pending, key=lambda q: first[q]):
            if not chosen or sid == chosen[-1] + 1:
                chosen.append(sid)
        k = min(pending[q] for q in chosen)
        k = max(1, min(k, n_ubatch // len(chosen)))
        for q in chosen:
            pending[q] -= k
            if not pending[q]:
                del pending[q]
        passes += 1
    return passes


def common_prefix_len(a: list[int], b: list[int]) -> int:
    """Length of the longest common prefix of two token lists."""
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


def all_cores() -> int:
    """The cores this process may run on: what `threads = 0` means.

    The thread count never changes an output, only speed. Give fewer on a machine shared with
    other jobs: ggml's threads spin at every barrier, so one more thread than there are free
    cores is far worse than one fewer (2 cores beside a load of ~4.5: 8.3 s a sentence on 2
    threads, 1.45 s on 1)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)
