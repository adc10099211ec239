"""From a trained student's output to a tree: PyTorch greedy decoding (the reference that the
CTranslate2 export must reproduce) and the repair that makes any output a tree over its words.
"""

from __future__ import annotations


from .. import formats
from ..formats import TREE_FORMATS
from .batches import inference, pad
from .tokenizer import StudentTokenizer, max_decoding_length


def repair_output(text: str, words: list[str], fmt: str) -> tuple[str, bool, bool, list[str]]:
    """(tree, ok, repaired, problems): a tree over exactly `words` via `mckd.trees.delinearize`;
    tag formats: the tags by position, made BIO-valid (`mckd.chunks.repair_tags`); text
    targets pass through unchanged."""
    if formats.get(fmt).tags:
        from ..chunks import repair_tags

        target, ok = repair_tags(text, list(words))
        problems = [] if ok else ["not the input words each followed by one BIO tag"]
        return target, ok, not ok, problems
    if fmt not in TREE_FORMATS:
        return " ".join(text.split()), bool(text.strip()), False, []
    from ..trees import delinearize
    r = delinearize(text, list(words), fmt)  # TreeError (a MckdError) on bad input words
    return r.tree, bool(r.ok), bool(r.repaired), list(r.problems)


def greedy_decode(model, tok: StudentTokenizer, words_list: list[list[str]], bound: dict,
                  device, batch_size: int = 64, min_new_tokens: int = 0) -> list[list[int]]:
    """PyTorch greedy decoding with the same per-batch length limit as `mckd relabel`."""
    import torch

    if tok.causal:
        from .causal import greedy_decode as causal_greedy

        return causal_greedy(model, tok, words_list, bound, device, min_new_tokens)
    srcs = [tok.encode_source(w) for w in words_list]
    order = sorted(range(len(srcs)), key=lambda i: len(srcs[i]))
    out: list[list[int]] = [None] * len(srcs)
    with inference(model):
        for s in range(0, len(order), batch_size):
            ids = order[s:s + batch_size]
            x = pad([srcs[i] for i in ids], tok.pad_id, torch).to(device)
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
    return out
