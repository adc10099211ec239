"""The parity check of an export: CTranslate2 float32 against PyTorch on probe inputs.

Token sequences must agree, a divergence accepted only where PyTorch itself scores both
continuations equally (a numerical tie), and CTranslate2's sequence scores must match
PyTorch's teacher-forced log-probs of the same tokens. Each student kind runs it its own way
(mckd.student.kinds); decoder-only students through `causal.ForcedReference`.
"""

from __future__ import annotations

import math
from pathlib import Path

from ..errors import MckdError


def hf_logprobs(model, src_ids: list[int], out_ids: list[int], eos: int | None) -> tuple[float, list[bool]]:
    """Teacher-forced log-prob of out_ids (+ EOS unless eos is None), and whether each token
    was the argmax (within 1e-4, so exact ties do not count as disagreements)."""
    import torch

    y_ids = out_ids + ([eos] if eos is not None else [])
    if not y_ids:
        return 0.0, []
    x = torch.tensor([src_ids])
    y = torch.tensor([y_ids])
    with torch.no_grad():
        logits = model(input_ids=x, attention_mask=torch.ones_like(x), labels=y).logits[0].float()
    lp = torch.log_softmax(logits, -1)
    picked = lp[torch.arange(len(y[0])), y[0]]
    is_max = (picked >= lp.max(-1).values - 1e-4).tolist()
    return float(picked.sum()), is_max


def compare_probe(where: str, hf: list[int], c2: list[int], ct_score: float, limit: int,
                  eos_id: int, logprobs, failures: list[str]) -> tuple[dict, bool]:
    """One parity probe: PyTorch's greedy ids `hf` against CT2's `c2` and its score.

    `logprobs(ids, eos)` gives PyTorch's teacher-forced (log-prob sum, argmax-agreement list)
    of `ids` (+ `eos`). Problems are appended to `failures`; returns (case record, was a tie).
    """
    cut = len(c2) >= limit  # no EOS was generated: the score has no EOS term
    lp_ct, argmax_ok = logprobs(c2, None if cut else eos_id)
    same, tie = hf == c2, False
    if not same:
        n = min(len(hf), len(c2))
        lp_hf_n, _ = logprobs(hf[:n], None)
        lp_ct_n, _ = logprobs(c2[:n], None)
        tie = all(argmax_ok[:n]) and abs(lp_hf_n - lp_ct_n) <= 1e-3 * (1 + n)
        if not tie:
            failures.append(f"{where}: CT2 and PyTorch greedy outputs differ (PyTorch log-prob "
                            f"of the first {n} tokens: {lp_hf_n:.4f} for its own output vs "
                            f"{lp_ct_n:.4f} for CT2's)")
    err = abs(ct_score - lp_ct)
    if not math.isfinite(ct_score) or err > 1e-2 + 1e-3 * len(c2):
        failures.append(f"{where}: CT2 score {ct_score:.4f} but PyTorch gives {lp_ct:.4f} for "
                        "the same tokens (conversion is wrong)")
    return {"tokens": len(c2), "identical": same, "cut": cut, "score_abs_err": round(err, 6)}, tie


def parity_summary(student_dir, cases: list[dict], ties: int, failures: list[str],
                   **extra) -> dict:
    """The parity result over every probe; MckdError listing the first failures, if any."""
    if failures:
        raise MckdError(f"{student_dir}: export parity check failed — CTranslate2 float32 does "
                        f"not reproduce the PyTorch model:\n  " + "\n  ".join(failures[:5]))
    return {"inputs": len(cases), "identical": sum(c["identical"] for c in cases), "ties": ties,
            "max_score_abs_err": max(c["score_abs_err"] for c in cases), "cases": cases,
            **extra}


def seq2seq_parity(student_dir: Path, ct2_dir: Path, meta: dict, inputs: list[list[str]]) -> dict:
    """Greedy outputs of CTranslate2 float32 vs PyTorch on `inputs`; MckdError when they differ.

    Each input is decoded with its own length limit (the one `mckd relabel` would use), so a
    runaway output is cut at the same place by both. Token sequences must agree; a divergence
    is accepted only where PyTorch itself scores both continuations equally (a numerical tie).
    CT2's sequence scores must match PyTorch's teacher-forced log-probs of the same tokens.
    """
    import ctranslate2
    from transformers import AutoModelForSeq2SeqLM

    from .models import greedy_decode
    from .tokenizer import StudentTokenizer, max_decoding_length

    tok = StudentTokenizer.load(student_dir)
    model = AutoModelForSeq2SeqLM.from_pretrained(student_dir, local_files_only=True).eval()
    min_new = int(meta.get("min_new_tokens", 0))
    bound = meta["length_bound"]
    tr = ctranslate2.Translator(str(ct2_dir), device="cpu", compute_type="float32")
    cases, failures, ties = [], [], 0
    for k, w in enumerate(inputs):
        s = tok.encode_source(w)
        limit = max_decoding_length(bound, len(w), len(s))
        # length_penalty=0: the score is the plain sum of token log-probs (EOS included)
        res = tr.translate_batch([tok.ids_to_tokens(s)], beam_size=1, max_decoding_length=limit,
                                 return_scores=True, min_decoding_length=min_new,
                                 length_penalty=0.0)[0]
        hf = greedy_decode(model, tok, [w], bound, "cpu", min_new_tokens=min_new)[0]
        c2 = tok.tokens_to_ids(res.hypotheses[0])
        case, tie = compare_probe(f"input {k} ({len(w)} words)", hf, c2, float(res.scores[0]),
                                  limit, tok.eos_id,
                                  lambda ids, eos, s=s: hf_logprobs(model, s, ids, eos), failures)
        cases.append(dict(case, words=len(w)))
        ties += tie
    return parity_summary(student_dir, cases, ties, failures)
