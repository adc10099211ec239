"""A plain-Python transcription of the MCKD authors' evaluation (the test oracle for paper_f1).

Follows src/parserlib.py of andotalao24/Multistage-Collaborative-Knowledge-Distillation
(`fixup_prediction`, `preprocess_punctuation`, `run_eval`, `getF1`) and the averaging of their
train_eval.py (entries of -1, sentences whose evaluation raised, are dropped from the mean),
using nltk's tree reader as they do. Written for readability, not speed; recursive like theirs,
so keep test trees shallow.
"""

from __future__ import annotations

import nltk

WORD_TAGS = frozenset("""CC CD DT EX FW IN JJ JJR JJS LS MD NN NNS NNP NNPS PDT POS PRP PRP$ RB
RBR RBS RP SYM TO UH VB VBD VBG VBN VBP VBZ WDT WP WP$ WRB""".split())


def fixup(unparsed: str, s: str) -> str:
    while s.count("(") > s.count(")"):
        s += " )"
    while s.count(")") > s.count("(") and s[-2:] == " )":
        s = s[:-2]
    for sep in "/-":
        out = []
        for tok in s.split():
            parts = tok.split(sep)
            if len(tok) > 1 and sep in tok and f" {sep} ".join(parts) in unparsed:
                for i, part in enumerate(parts):
                    if i:
                        out.append(f"( {sep} )")
                    out.append(f"( {part} )")
            else:
                out.append(tok)
        s = " ".join(out)
    out = []
    for tok in s.split():
        if tok == "won't" and "wo n't" in unparsed:
            out.append("( wo n't )")
        elif tok == "don't" and "do n't" in unparsed:
            out.append("( do n't )")
        elif tok == "can't" and "ca n't" in unparsed:
            out.append("( ca n't )")
        elif tok.endswith("'s") and tok not in unparsed:
            out.append(f"( {tok[:-2]} 's )")
        else:
            out.append(tok)
    return " ".join(" ".join(out).replace("(", "( ").split())


def _reduce(tree, is_word: list[bool], node):
    """Their mask walk: leaves whose gold position is not a word are removed, a bracket left
    without children disappears (None), and `node(bracket, kids)` builds the rest. A leaf past
    the mask raises IndexError, like theirs."""

    def walk(t, pos):
        if not isinstance(t, (list, tuple)):
            return (t if is_word[pos] else None), 1
        kids, size = [], 0
        for sub in t:
            kid, n = walk(sub, pos + size)
            if kid is not None:
                kids.append(kid)
            size += n
        return (node(t, kids) if kids else None), size

    return walk(tree, 0)[0]


def remove_words(tree, is_word: list[bool]):
    """The unlabeled reduction: a bracket left with one child becomes that child."""
    return _reduce(tree, is_word, lambda t, kids: kids[0] if len(kids) == 1 else tuple(kids))


def labeled_gold(tree, is_word: list[bool]):
    """Their labeled copy of the reduced gold (with_labels=True), read back by nltk."""
    def node(t, kids):
        return f"({t.label().strip()} {kids[0] if len(kids) == 1 else ' '.join(kids)})"

    return nltk.Tree.fromstring(_reduce(tree, is_word, node))


def flatten(node) -> list:
    if not isinstance(node, (list, tuple)):
        return [node]
    return [leaf for sub in node for leaf in flatten(sub)]


def spans(node) -> set:
    found = set()

    def walk(t, pos):
        if isinstance(t, (str, int)):
            return 1
        size = 0
        for sub in t:  # a None tree raises TypeError here, as in theirs
            size += walk(sub, pos + size)
        if size > 1:
            found.add((pos, size))
        return size

    walk(node, 0)
    return found


def strip_punctuation(tokens, gold: str, tree: str, has_tags: bool = True):
    if not has_tags:
        tree = tree.replace("(", "(X ")
    tags = [tag for _, tag in nltk.Tree.fromstring(gold).pos()]
    is_word = [t in WORD_TAGS for t in tags]
    new_tree = remove_words(nltk.Tree.fromstring(tree), is_word)
    new_tokens = [w for w, keep in zip(tokens, is_word) if keep]
    if len(new_tokens) != len(flatten(new_tree)):
        raise ValueError("word count")
    return new_tree


def sentence_f1(unparsed: str, gold: str, raw: str) -> float:
    """One sentence as their run_eval scores it; raises where theirs raises uncaught."""
    tokens = unparsed.strip().split()
    gold = gold.strip()
    gold_tree = strip_punctuation(tokens, gold, gold)  # uncaught, like theirs
    tags = [tag for _, tag in nltk.Tree.fromstring(gold).pos()]
    labeled_gold(nltk.Tree.fromstring(gold), [t in WORD_TAGS for t in tags])  # may raise too
    try:
        pred_tree = strip_punctuation(tokens, gold, fixup(unparsed, raw), has_tags=False)
        ok = len(flatten(gold_tree)) == len(flatten(pred_tree))
    except (ValueError, IndexError):
        ok = False
    if not ok:
        return 0.0
    g, p = spans(gold_tree), spans(pred_tree)
    correct = len(g & p)
    if correct == 0 or not g or not p:
        return 0.0
    prec, recall = float(correct) / len(p), float(correct) / len(g)
    return 2 * (prec * recall) / (prec + recall)


def per_sentence(golds, sources, preds) -> list[float | None]:
    """Each sentence's F1 (0..1), or None where their code raised (left out of their mean)."""
    out = []
    for gold, src, pred in zip(golds, sources, preds):
        try:
            out.append(sentence_f1(src, gold, pred))
        except Exception:  # noqa: BLE001 - their getF1 turns any error into -1, then drops it
            out.append(None)
    return out
