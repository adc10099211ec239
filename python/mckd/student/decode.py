"""From a trained student's output to a tree: PyTorch greedy decoding (the reference that the
CTranslate2 export must reproduce) and the repair that makes any output a tree over its words.
"""

from __future__ import annotations


from .. import formats
from ..formats import TREE_FORMATS
from .tokenizer import StudentTokenizer


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
    """PyTorch greedy decoding with the same per-input length limit as `mckd relabel`, as the
    student's kind decodes (mckd.student.kinds)."""
    from .kinds import of_tokenizer

    return of_tokenizer(tok).greedy(model, tok, words_list, bound, device, batch_size,
                                    min_new_tokens)
