"""Constrained decoding of decoder-only students with llama.cpp: the teacher's batched engine.

    prompts (the student's own token ids) → one Job per sentence, its TreeConstraint
    → mckd.teacher.engine.BatchDecoder: `parallel` sentences per llama_decode call, the KV
      cache kept, tokens the constraint forces fed in the same call without a step of their own
    → Decoded (text, tokens, log-prob, cut), as mckd.student.constrained returns them

Each step reads the whole logits row and takes the best token the constraint allows (or draws
one from the allowed ones alone, at a temperature): exactly token-level masked greedy decoding
(or masked sampling) of the GGUF model. Log-probabilities are those CTranslate2 gives: every
token written, forced ones included, and the end token after a complete tree.

Needs llama-cpp-python, not torch: `mckd parse` runs a GGUF student the same way.
"""

from __future__ import annotations

import os
import zlib
from pathlib import Path

from ..errors import MckdError
from .constrained import Decoded, grammar_for, token_bytes

GGUF_FILE = "model.gguf"


def llama_available() -> bool:
    try:
        import llama_cpp  # noqa: F401
    except ImportError:
        return False
    return True


def sentence_seed(seed: int, key: str) -> int:
    """A sampled sentence's own seed: the same draw whatever batch or chunk it lands in."""
    return zlib.crc32(f"{seed}\0{key}".encode())


class LlamaStudent:
    """A GGUF student loaded in llama.cpp, decoding batches of sentences under the constraint."""

    def __init__(self, path: str | os.PathLike, tok, fmt: str, *, threads: int = 0,
                 parallel: int = 16, schedule: str = "level"):
        from ..teacher.constraint import VocabIndex
        from ..teacher.engine import LlamaModel, all_cores

        self.path = Path(path)
        self.tok, self.fmt = tok, fmt
        self.model = LlamaModel(self.path)
        if self.model.n_vocab < tok.vocab_size:
            raise MckdError(f"{self.path}: {self.model.n_vocab} tokens, but the student's "
                            f"tokenizer has {tok.vocab_size}: not this student's GGUF")
        self.threads = max(0, int(threads)) or all_cores()
        self.parallel = max(1, int(parallel))
        self.schedule = schedule
        self.grammar = grammar_for(fmt, tok.leaves, tok.tags)
        # the student's own tokenizer spells the tokens (as the CTranslate2 path does), so both
        # engines constrain with the same byte strings
        self.index = VocabIndex(token_bytes(tok.tok))
        self._dec = None
        self._dec_key = None

    def _decoder(self, n_parallel: int, n_ctx_seq: int):
        from ..teacher.engine import BatchDecoder

        n_ctx_seq = (n_ctx_seq + 255) // 256 * 256
        key = (n_parallel, n_ctx_seq)
        if self._dec is None or self._dec_key[0] < n_parallel or self._dec_key[1] < n_ctx_seq:
            if self._dec is not None:
                self._dec.close()
            key = (max(n_parallel, self._dec_key[0] if self._dec_key else 0),
                   max(n_ctx_seq, self._dec_key[1] if self._dec_key else 0))
            self._dec = BatchDecoder(self.model, n_parallel=key[0], n_ctx_seq=key[1],
                                     n_threads=self.threads, schedule=self.schedule)
            self._dec_key = key
        return self._dec

    def decode(self, prompts: list[list[int]], words_list: list[list[str]], limits: list[int],
               *, temperature: float = 0.0, seed: int = 0, keys: list[str] | None = None,
               scores: bool = True) -> list[Decoded]:
        """Masked greedy (temperature 0) or masked sampling of each prompt (token ids); `keys`
        name the sentences for their sampling seeds (positions by default). scores=False: the
        trees only (`mckd parse`): forced tokens and EOS get no logits (about a tenth faster),
        so log-probs and corrections count the model's own choices only."""
        from ..teacher.engine import Job

        if not prompts:
            return []
        keys = keys or [str(i) for i in range(len(prompts))]
        out: list[Decoded | None] = [None] * len(prompts)
        jobs = []
        for i, (p, w, lim) in enumerate(zip(prompts, words_list, limits)):
            c = self.grammar.constraint(self.index, w, heal=" ")
            if lim <= 0:
                c.complete()
                out[i] = Decoded(self.tok.from_notation(c.output(), w), 0, 0.0, True, 0)
                continue
            jobs.append(Job(key=str(i), tokens=list(p), max_new=lim, constraint=c,
                            temperature=temperature, seed=sentence_seed(seed, keys[i]),
                            score_forced=scores, eos=self.tok.eos_id if scores else None))
        if jobs:
            need = max(len(j.tokens) + j.max_new + 2 for j in jobs)
            dec = self._decoder(min(self.parallel, len(jobs)), need)
            for job, res in dec.generate(jobs):
                i = int(job.key)
                # a tree closed without the model (the budget ran out), or complete with no
                # room left for EOS, was cut, as CTranslate2's path says
                cut = res.stop != "done" or res.tokens >= job.max_new
                out[i] = Decoded(self.tok.from_notation(res.text, words_list[i]), res.tokens,
                                 res.logprob_sum, cut, res.masked)
        return out  # type: ignore[return-value]

    def close(self) -> None:
        if self._dec is not None:
            self._dec.close()
            self._dec = None
        self.model.close()


def forced_logprobs(path: str | os.PathLike, seqs: list[list[int]], starts: list[int],
                    threads: int = 0):
    """llama.cpp's log-softmax rows for positions start-1 .. len-2 of each token sequence (the
    distributions that predict tokens start .. end): one teacher-forced pass each, for the
    export's parity check. A list of float64 arrays [len - start, vocab]."""
    import ctypes

    import numpy as np

    from ..teacher.engine import BatchDecoder, LlamaModel, all_cores

    model = LlamaModel(path)
    try:
        dec = BatchDecoder(model, n_parallel=1, n_ctx_seq=max(len(s) for s in seqs) + 8,
                           n_threads=max(0, int(threads)) or all_cores(),
                           n_batch=max(512, max(len(s) for s in seqs)))
        row = ctypes.POINTER(ctypes.c_float * model.n_vocab)
        out = []
        try:
            for seq, start in zip(seqs, starts):
                dec.L.llama_memory_clear(dec.mem, True)
                for j, t in enumerate(seq):
                    dec._put(j, t, j, 0, j >= start - 1)
                dec._decode(len(seq))
                rows = []
                for j in range(start - 1, len(seq) - 1):
                    ptr = dec.L.llama_get_logits_ith(dec.ctx, j)
                    x = np.ctypeslib.as_array(ctypes.cast(ptr, row).contents).astype(np.float64)
                    m = x.max()
                    rows.append(x - (m + np.log(np.exp(x - m).sum())))
                out.append(np.stack(rows))
        finally:
            dec.close()
    finally:
        model.close()
    return out
