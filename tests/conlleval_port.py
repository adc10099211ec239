"""An independent port of conlleval.pl's chunk counting (CoNLL-2000 shared task), as the oracle
for mckd.metrics.text: the perl script's token-by-token state machine (`startOfChunk`,
`endOfChunk`, the `inCorrect` flag), not mckd's set-of-chunks reading. Sentence boundaries are
fed as an O token, as conlleval does with an empty line. IOB1/IOB2/IOE tags are handled as the
script handles them; `[` `]` chunk markers are left out (no format here writes them)."""


def _split(tag):
    if "-" in tag:
        t, _, typ = tag.partition("-")
        return t, typ
    return tag, ""


def _end(prev, tag, ptype, typ):
    end = (prev, tag) in {("B", "B"), ("B", "O"), ("I", "B"), ("I", "O"),
                          ("E", "E"), ("E", "I"), ("E", "O")}
    if prev not in ("O", ".") and ptype != typ:
        end = True
    return end


def _start(prev, tag, ptype, typ):
    start = (prev, tag) in {("B", "B"), ("I", "B"), ("O", "B"), ("O", "I"),
                            ("E", "E"), ("E", "I"), ("O", "E")}
    if tag not in ("O", ".") and ptype != typ:
        start = True
    return start


def counts(sentences):
    """(correct chunks, gold chunks, guessed chunks, correct tags, tokens) over
    [(gold tags, guessed tags), ...]."""
    correct_chunk = found_correct = found_guessed = correct_tags = tokens = 0
    in_correct = False
    last_c, last_ct, last_g, last_gt = "O", "", "O", ""
    stream = []
    for gold, guess in sentences:
        stream += [(g, p, True) for g, p in zip(gold, guess)] + [("O", "O", False)]
    for gold, guess, is_token in stream:
        c, ct = _split(gold)
        g, gt = _split(guess)
        if in_correct:
            ec, eg = _end(last_c, c, last_ct, ct), _end(last_g, g, last_gt, gt)
            if ec and eg and last_gt == last_ct:
                in_correct = False
                correct_chunk += 1
            elif ec != eg or gt != ct:
                in_correct = False
        sc, sg = _start(last_c, c, last_ct, ct), _start(last_g, g, last_gt, gt)
        if sc and sg and gt == ct:
            in_correct = True
        found_correct += sc
        found_guessed += sg
        if is_token:
            correct_tags += gold == guess
            tokens += 1
        last_c, last_ct, last_g, last_gt = c, ct, g, gt
    if in_correct:
        correct_chunk += 1
    return correct_chunk, found_correct, found_guessed, correct_tags, tokens


def f1(sentences):
    ok, gold, guessed, _, _ = counts(sentences)
    p = 100.0 * ok / guessed if guessed else 0.0
    r = 100.0 * ok / gold if gold else 0.0
    return 2 * p * r / (p + r) if p + r else 0.0
