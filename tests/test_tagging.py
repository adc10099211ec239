"""The tagging formats (chunks, basenp): chunks derived from trees, their metrics against
independent implementations, the tag constraint and grammar, and the teacher writing tags."""

import json
import random

import pytest
from conlleval_port import counts as conll_counts
from conlleval_port import f1 as conll_f1

from mckd import formats
from mckd.chunks import chunk_tags, gold_target, interleave, repair_tags, tags_of
from mckd.errors import MckdError
from mckd.metrics.text import chunks, tag_scores
from mckd.teacher.constraint import TagGrammar, VocabIndex
from mckd.trees import clean, parse_tree, read_trees


def _tags(tree: str, derivation: str = "chunks") -> list[tuple[str, str]]:
    t = parse_tree(tree)
    return list(zip(t.words, chunk_tags(t, derivation)))


# ------------------------------------------------------------------ derivation, hand-checked
def test_typed_chunks_of_a_hand_checked_tree():
    tree = ("(S (NP (DT The) (ADJP (RB very) (JJ big)) (NN dog)) (VP (MD will) (VP (VB chase) "
            "(NP (NP (DT the) (NN cat) (POS 's)) (NN tail)) (PP (IN in) (NP (DT the) (NN yard)))))"
            " (. .))")
    assert [t for _, t in _tags(tree)] == [
        "B-NP", "I-NP", "I-NP", "I-NP",  # the premodifier ADJP joins its NP
        "B-VP", "I-VP",                  # a verb cluster is one chunk
        "B-NP", "I-NP", "I-NP", "B-NP",  # possessives as CoNLL-2000 writes them
        "B-PP", "B-NP", "I-NP", "O"]
    assert [t for _, t in _tags(tree, "basenp")] == [
        "B-NP", "I-NP", "I-NP", "I-NP", "O", "O", "B-NP", "I-NP", "I-NP", "O", "O", "B-NP",
        "I-NP", "O"]


@pytest.mark.parametrize("tree, want", [
    # coordination of phrases: the conjunction is outside; inside a base phrase it is not
    ("(NP (NP (NNS cats)) (CC and) (NP (NNS dogs)))", ["B-NP", "O", "B-NP"]),
    ("(NP (NNS cats) (CC and) (NNS dogs))", ["B-NP", "I-NP", "I-NP"]),
    # SBAR, a clause's subject and verb
    ("(S (NP (PRP He)) (VP (VBD said) (SBAR (IN that) (S (NP (PRP it)) (VP (VBD rained))))) (. .))",
     ["B-NP", "B-VP", "B-SBAR", "B-NP", "B-VP", "O"]),
    # a particle, and a predicative adjective phrase
    ("(S (NP (PRP They)) (VP (VBD gave) (PRT (RP up))))", ["B-NP", "B-VP", "B-PRT"]),
    ("(S (NP (PRP It)) (VP (VBZ is) (ADJP (RB very) (JJ small))))",
     ["B-NP", "B-VP", "B-ADJP", "I-ADJP"]),
    # CRAFT splits hyphenated words: the hyphen stays inside its chunk; brackets are O
    ("(NP (NML (NN neuron) (HYPH -) (VBG packing)) (NN density) (-LRB- -LRB-) (NN n) (-RRB- -RRB-))",
     ["B-NP", "I-NP", "I-NP", "I-NP", "O", "B-NP", "O"]),
    # words directly under S (no chunk type) are O
    ("(S (CC But) (NP (PRP we)) (VP (VBD left)))", ["O", "B-NP", "B-VP"]),
])
def test_typed_chunk_rules(tree, want):
    assert [t for _, t in _tags(tree)] == want


def test_unknown_derivation_is_refused():
    with pytest.raises(MckdError, match="unknown chunk derivation"):
        chunk_tags(parse_tree("(S (NN a))"), "iob")


def test_wsj_sentences_match_their_well_known_chunking(shared_data):
    """wsj_0001's two sentences, chunked as the CoNLL-2000 rules chunk them (the standard
    textbook example): checked by hand."""
    trees = [clean(t) for t in read_trees(shared_data / "ptb-sample" / "wsj_0001.mrg")]
    got = [interleave(list(t.words), chunk_tags(t)) for t in trees]
    assert got[0] == ("Pierre B-NP Vinken I-NP , O 61 B-NP years I-NP old B-ADJP , O will B-VP "
                      "join I-VP the B-NP board I-NP as B-PP a B-NP nonexecutive I-NP director "
                      "I-NP Nov. B-NP 29 I-NP . O")
    assert got[1] == ("Mr. B-NP Vinken I-NP is B-VP chairman B-NP of B-PP Elsevier B-NP N.V. I-NP "
                      ", O the B-NP Dutch I-NP publishing I-NP group I-NP . O")


@pytest.mark.parametrize("corpus", ["craft", "ptb-sample"])
def test_every_tree_of_the_corpora_gets_one_bio_valid_tag_per_word(shared_data, corpus):
    files = sorted((shared_data / corpus).glob("*.tree" if corpus == "craft" else "*.mrg"))
    n = 0
    for f in files[:40]:
        for t in read_trees(f):
            t = clean(t)
            for d in ("chunks", "basenp"):
                tags = chunk_tags(t, d)
                assert len(tags) == t.n_words
                target = interleave(list(t.words), tags)
                assert repair_tags(target, list(t.words))[1], (f, target)  # BIO-valid as is
            n += 1
    assert n > 100


def test_format_targets_come_from_the_gold_tree_or_the_record():
    tree = "(S (NP (DT The) (NN dog)) (VP (VBD ran)))"
    rec = {"id": "a", "words": ["The", "dog", "ran"], "gold": tree, "targets": {"unlabeled": "x"}}
    assert gold_target(rec, "chunks") == "The B-NP dog I-NP ran B-VP"
    assert gold_target(rec, "basenp") == "The B-NP dog I-NP ran O"
    own = {"id": "b", "source": "fly to boston", "target": "fly O to O boston B-to"}
    assert gold_target(own, "chunks") == own["target"]  # imported tag data
    with pytest.raises(MckdError, match="unknown format"):
        formats.get("iob")


@pytest.mark.parametrize("bad, message", [
    ("fly O to boston B-to", "not the words each followed by its tag"),        # a tag missing
    ("fly O go O boston B-to", "not the words each followed by its tag"),      # another word
    ("fly O to X-to boston B-to", "'X-to' is not a BIO tag"),
])
def test_a_bad_tag_target_in_a_data_folder_is_named_by_file_line_and_record(tmp_path, capsys,
                                                                             bad, message):
    """Your own tag data: `mckd distill --format chunks` checks every record before the first
    step and names the one that is wrong."""
    from mckd.cli import main
    from mckd.data import check_data_dir

    good = [{"id": f"r{i}", "source": "fly to boston", "target": "fly O to O boston B-to"}
            for i in range(5)]
    train = good[:2] + [{"id": "r9", "source": "fly to boston", "target": bad}] + good[2:]
    (tmp_path / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in train))
    (tmp_path / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in good))
    with pytest.raises(MckdError) as e:
        check_data_dir(tmp_path, "chunks", labeled=2)
    assert f"{tmp_path / 'train.jsonl'}:3: record 'r9'" in str(e.value) and message in str(e.value)
    out = tmp_path / "run"
    assert main(["distill", "--data", str(tmp_path), "--out", str(out), "--format", "chunks",
                 "--labeled", "2"]) != 0
    assert "train.jsonl:3: record 'r9'" in capsys.readouterr().err
    assert not out.exists()  # refused before anything was written


# ------------------------------------------------------------------ metrics
TYPES = ["NP", "VP", "PP"]


def _random_tags(rng, n):
    """Any tag sequence, BIO-invalid ones included (I- after O, type changes mid-chunk)."""
    return [rng.choice(["O"] + [f"{p}-{t}" for p in "BI" for t in TYPES]) for _ in range(n)]


def _corpus(seed, m=60):
    rng = random.Random(seed)
    out = []
    for _ in range(m):
        n = rng.randint(1, 12)
        gold = _random_tags(rng, n)
        guess = [g if rng.random() < 0.6 else t for g, t in zip(gold, _random_tags(rng, n))]
        out.append((gold, guess))
    return out


def _as_records(pairs):
    words = [[f"w{i}" for i in range(len(g))] for g, _ in pairs]
    gold = [interleave(w, g) for w, (g, _) in zip(words, pairs)]
    pred = [interleave(w, p) for w, (_, p) in zip(words, pairs)]
    return gold, pred, words


@pytest.mark.parametrize("seed", range(8))
def test_chunk_f1_equals_a_conlleval_port(seed):
    pairs = _corpus(seed)
    gold, pred, words = _as_records(pairs)
    s = tag_scores(gold, pred, words)
    assert s["chunk_f1"] == pytest.approx(conll_f1(pairs), abs=1e-9)
    per = [conll_f1([p]) for p in pairs]
    assert s["chunk_f1_per_sentence"] == pytest.approx(per, abs=1e-3)
    assert s["chunk_f1_mean"] == pytest.approx(sum(per) / len(per), abs=1e-3)
    ok, _, _, right, total = conll_counts(pairs)
    assert s["tag_accuracy"] == pytest.approx(100.0 * right / total)


@pytest.mark.parametrize("gold, guess, tp", [
    (["B-NP", "I-NP"], ["I-NP", "I-NP"], 1),       # I- after O starts a chunk
    (["B-NP", "I-NP"], ["B-NP", "I-VP"], 0),       # a type change ends it
    (["B-NP", "B-NP"], ["B-NP", "I-NP"], 0),       # two chunks are not one
    (["O", "O"], ["O", "O"], 0),                   # no chunks at all
    (["B-NP", "I-NP", "O", "B-VP"], ["B-NP", "I-NP", "O", "B-VP"], 2),
])
def test_chunk_edge_cases(gold, guess, tp):
    assert len(chunks(gold) & chunks(guess)) == tp == conll_counts([(gold, guess)])[0]


def test_chunk_f1_equals_seqeval_where_installed():
    seqeval = pytest.importorskip("seqeval.metrics")
    pairs = _corpus(11, 200)
    gold, pred, words = _as_records(pairs)
    want = 100.0 * seqeval.f1_score([g for g, _ in pairs], [p for _, p in pairs])
    assert tag_scores(gold, pred, words)["chunk_f1"] == pytest.approx(want, abs=1e-6)


def test_outputs_are_read_by_position_and_invalid_ones_counted():
    words = ["a", "b", "c"]
    gold = interleave(words, ["B-NP", "I-NP", "B-VP"])
    s = tag_scores([gold] * 3, ["a B-NP b I-NP", "a B-NP b I-NP c B-VP x", "a B-NP b I-NP c B-VP"],
                   [words] * 3)
    assert s["invalid"] == 2 and s["chunk_f1_per_sentence"][2] == 100.0
    # the short output predicts nothing for "c" (its NP is right), the long one is read by position
    assert s["chunk_f1_per_sentence"][:2] == pytest.approx([66.6667, 100.0])
    assert tags_of("a B-NP b") == ["B-NP"]


# ------------------------------------------------------------------ constraint and grammar
def _vocab():
    words = ["the", "dog", "ran", "-LRB-", "n", "-RRB-"]
    pieces = [b" ", b"B", b"I", b"O", b"-", b"NP", b"VP", b"PP", b" B", b" I", b" O", b"-NP",
              b"-VP", b" B-NP", b" I-NP", b" O the", b"\n"]
    pieces += [(" " + w).encode() for w in words] + [w.encode() for w in words]
    pieces += [bytes([c]) for c in range(97, 123)]
    return VocabIndex(pieces)


def test_the_tag_constraint_admits_only_bio_valid_tags_of_the_set():
    g = TagGrammar.from_targets("chunks", ["x B-NP y I-NP z B-VP", "u B-PP v O"])
    assert g.tags[0] == "O" and set(g.tags) == {"O", "B-NP", "I-NP", "B-VP", "B-PP"}
    ix, words = _vocab(), ["the", "dog", "-LRB-", "n", "-RRB-", "ran"]
    rng = random.Random(0)
    for _ in range(200):
        c = g.constraint(ix, words, heal=" ")
        steps = rng.randint(0, 30)
        while not c.done and steps:
            al = c.allowed()
            assert al, "a state with no way on"
            c.advance(rng.choice(sorted(al)), al)
            steps -= 1
        c.complete()
        out = c.output()
        assert g.valid(words, out), out
        assert out.split()[0::2] == words


def test_tag_grammars_refuse_what_is_not_bio():
    with pytest.raises(MckdError, match="not BIO tags"):
        TagGrammar.from_targets("chunks", ["x NP y VP"])


def test_the_server_grammar_parses_and_holds_the_constraint_language():
    llama_cpp = pytest.importorskip("llama_cpp")
    g = TagGrammar.from_targets("chunks", ["x B-NP y I-NP z B-VP"])
    text = g.gbnf(["the", "big", "dog"], ":")
    llama_cpp.LlamaGrammar.from_string(text, verbose=False)  # raises on a syntax error
    # every rule's alternatives are exactly the constraint's tags after that type
    assert 's-1-t1 ::= " O" " dog" s-2-t0 | " B-NP" " dog" s-2-t1 | " B-VP" " dog" s-2-t2 | ' \
           '" I-NP" " dog" s-2-t1' in text
    assert text.startswith('root ::= ":the" s-0-t0')


def test_unconstrained_outputs_are_repaired_for_training_and_kept_raw():
    g = TagGrammar.from_targets("chunks", ["x B-NP y I-NP z B-VP"])
    out = g.check("the I-NP big X dog", ["the", "big", "dog"])
    assert out["target"] == "the B-NP big O dog O" and out["output"] == "the I-NP big X dog"
    assert not out["valid"] and out["repaired"] and out["raw"] == out["output"]


# ------------------------------------------------------------------ the teacher writes tags
def test_teacher_writes_valid_chunk_tags(tmp_path, small_teacher, craft_dir):
    from mckd.data import read_treebank
    from mckd.teacher import run_teacher
    from mckd.teacher.run import TeacherConfig

    recs, _ = read_treebank(sorted(craft_dir.glob("*.tree"))[:1])
    recs = [r for r in recs if 6 <= len(r["words"]) <= 14]
    demos, inputs = recs[:4], [{"id": r["id"], "words": r["words"]} for r in recs[4:7]]
    out = tmp_path / "t.jsonl"
    cfg = TeacherConfig(format="chunks", shots=3, demo_selection="fixed", parallel=3,
                        progress=False)
    s = run_teacher(small_teacher, demos, inputs, out, cfg)
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(rows) == 3 and s["valid"] == 3
    g = TagGrammar.from_targets("chunks", [gold_target(d, "chunks") for d in demos])
    for r, x in zip(rows, inputs):
        assert r["valid"] and r["output"] == r["target"] and g.valid(x["words"], r["target"])


def test_demos_whose_tags_do_not_fit_their_words_are_named(tmp_path, small_teacher):
    from mckd.teacher import run_teacher
    from mckd.teacher.run import TeacherConfig

    demos = [{"id": "d1", "source": "the dog", "target": "the B-NP cat I-NP"}]
    with pytest.raises(MckdError, match=r"demos record 1 \(id d1\).*w1 t1 w2 t2"):
        run_teacher(small_teacher, demos, [{"id": "x", "source": "a dog"}], tmp_path / "o.jsonl",
                    TeacherConfig(format="chunks", shots=1, progress=False))


# ------------------------------------------------------------------ voting
def test_tags_vote_word_by_word_and_invalid_outputs_abstain():
    from mckd.teacher.vote import consensus_tags, vote

    w = ["the", "dog", "ran"]
    outs = ["the B-NP dog I-NP ran B-VP", "the B-NP dog B-NP ran B-VP", "the O dog I-NP ran O",
            "not a tagging"]
    got, usable = consensus_tags(outs, w, 0.2)
    assert usable == 3 and got == "the B-NP dog I-NP ran B-VP"  # the tie at "dog" goes early
    # above the threshold only: two votes of four are 0.5
    assert consensus_tags(outs, w, 0.5)[0] == "the O dog O ran O"
    assert consensus_tags(["x"], w, 0.2) == (None, 0)
    assert vote("chunks", outs, w, 0.2) == (got, 3)
    with pytest.raises(MckdError, match="cannot vote"):
        vote("labeled", outs, w, 0.2)


# ------------------------------------------------------------------ students write tags
def _tag_records(n, seed):
    """Short sentences whose chunk tags follow from the words (determiner + noun, verb, ...)."""
    rng = random.Random(seed)
    nouns, dets, verbs, preps = ["gene", "protein", "mouse", "cells"], ["the", "a"], \
        ["binds", "was", "observed"], ["in", "of"]
    out = []
    for i in range(n):
        words, tags = [], []
        for part in rng.sample(["np", "vp", "pp", "np2"], rng.randint(2, 4)):
            if part in ("np", "np2"):
                words += [rng.choice(dets), rng.choice(nouns)]
                tags += ["B-NP", "I-NP"]
            elif part == "vp":
                words.append(rng.choice(verbs))
                tags.append("B-VP")
            else:
                words += [rng.choice(preps), rng.choice(nouns)]
                tags += ["B-PP", "B-NP"]
        out.append({"id": f"t{seed}-{i}", "words": words, "source": " ".join(words),
                    "target": interleave(words, tags)})
    return out


@pytest.fixture(scope="module")
def tag_student(tmp_path_factory):
    """A tiny decoder-only student trained briefly on tags (so it errs unless constrained),
    exported float32 (CTranslate2 and GGUF)."""
    pytest.importorskip("torch")
    from test_causal_student import causal_cfg, tiny_causal_folder

    from mckd.student.export import export_student
    from mckd.student.train import train_student

    recs = _tag_records(150, 1)
    root = tmp_path_factory.mktemp("tags")
    init = tiny_causal_folder(root / "init", recs)
    train_student(recs, root / "s", causal_cfg(init, epochs=2, format="chunks"))
    export_student(root / "s", root / "m", quantization="float32")
    return root


def test_a_tag_student_keeps_its_tag_set_and_decodes_under_the_constraint(tag_student, tmp_path):
    from mckd.student.relabel import relabel

    meta = json.loads((tag_student / "m" / "mckd_tokenizer.json").read_text())
    assert meta["format"] == "chunks" and meta["tags"][0] == "O"
    assert set(meta["tags"]) == {"O", "B-NP", "I-NP", "B-VP", "B-PP"}
    inputs = _tag_records(12, 2)
    rows = {}
    for engine in ("ctranslate2", "llama.cpp"):
        out = tmp_path / f"{engine}.jsonl"
        s = relabel(tag_student / "m", inputs, out, threads=1, progress=False, engine=engine)
        assert s["decoding"] == "constrained"
        rows[engine] = [json.loads(x) for x in out.read_text().splitlines()]
        g = TagGrammar("chunks", meta["tags"])
        for r, x in zip(rows[engine], inputs):
            assert r["valid"] and not r["repaired"] and g.valid(x["words"], r["output"]), r
    # the same weights, the same masked greedy choices (float32 on both engines)
    same = sum(a["output"] == b["output"] for a, b in zip(rows["ctranslate2"], rows["llama.cpp"]))
    assert same >= 10, (rows["ctranslate2"], rows["llama.cpp"])


def test_parse_writes_tags_and_a_committee_votes_them(tag_student, tmp_path, capsys):
    from mckd.cli import main

    f = tmp_path / "in.txt"
    f.write_text("the gene binds a protein\n\nin mouse the cells\n")
    assert main(["parse", str(tag_student / "m"), str(f), "--threads", "1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1] == "" and [x.split()[0::2] for x in (lines[0], lines[2])] == [
        "the gene binds a protein".split(), "in mouse the cells".split()]
    assert main(["parse", str(tag_student / "m"), str(f), "--threads", "1", "--with",
                 str(tag_student / "m"), "--json"]) == 0
    rows = [json.loads(x) for x in capsys.readouterr().out.splitlines() if x]
    rows = [r for r in rows if not r.get("blank")]
    assert [r["members"] for r in rows] == [2, 2] and all(r["valid"] for r in rows)
    assert [r["tree"].split()[0::2] for r in rows] == [
        "the gene binds a protein".split(), "in mouse the cells".split()]


# ------------------------------------------------------------------ mckd eval --metric chunks
def test_eval_scores_tag_files_as_conlleval_does(tmp_path, capsys):
    """`mckd eval --metric chunks GOLD PRED` on random taggings: its corpus chunk F1 and tag
    accuracy are the conlleval port's; GOLD may be CoNLL columns; a blank line in both files
    (an empty input `mckd parse` kept) is skipped; mismatched files and bad gold are named."""
    from mckd.cli import main

    rng = random.Random(7)
    sents = []
    for _ in range(40):
        n = rng.randint(1, 9)
        words = [f"w{rng.randint(0, 30)}" for _ in range(n)]
        sents.append((words, _random_tags(rng, n), _random_tags(rng, n)))
    cc, fc, fg, ct, tok = conll_counts([(g, p) for _, g, p in sents])
    want_f1 = 200 * cc / (fc + fg) if cc else 0.0
    gold = [interleave(w, g) for w, g, _ in sents]
    pred = [interleave(w, p) for w, _, p in sents]

    (tmp_path / "gold.txt").write_text("\n".join(gold[:5] + [""] + gold[5:]) + "\n")
    (tmp_path / "pred.txt").write_text("\n".join(pred[:5] + [""] + pred[5:]) + "\n")
    assert main(["eval", "--metric", "chunks", "--json", str(tmp_path / "gold.txt"),
                 str(tmp_path / "pred.txt")]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["n"] == 40 and res["invalid"] == 0
    assert res["chunk_f1"] == pytest.approx(want_f1)
    assert res["tag_accuracy"] == pytest.approx(100 * ct / tok)
    assert sum(t["gold"] for t in res["types"].values()) == fc
    assert sum(t["predicted"] for t in res["types"].values()) == fg

    # gold as CoNLL columns (no blank sentence there, so none in pred either)
    (tmp_path / "gold.conll").write_text(
        "".join("".join(f"{a} {b}\n" for a, b in zip(w, g)) + "\n" for w, g, _ in sents))
    (tmp_path / "pred2.txt").write_text("\n".join(pred) + "\n")
    assert main(["eval", "--metric", "chunks", str(tmp_path / "gold.conll"),
                 str(tmp_path / "pred2.txt")]) == 0
    out = capsys.readouterr().out
    assert f"chunk_f1                = {want_f1:.4f}" in out and "FB1" in out

    assert main(["eval", "--metric", "chunks", str(tmp_path / "gold.conll"),
                 str(tmp_path / "pred.txt")]) != 0
    assert "has 40 sentences but" in capsys.readouterr().err
    (tmp_path / "bad.txt").write_text("a B-NP b\n")
    assert main(["eval", "--metric", "chunks", str(tmp_path / "bad.txt"),
                 str(tmp_path / "bad.txt")]) != 0
    assert "sentence 1: not words each followed by a BIO tag" in capsys.readouterr().err
    (tmp_path / "bad.conll").write_text("a B-NP\nb\n\n")  # a token line without its tag
    assert main(["eval", "--metric", "chunks", str(tmp_path / "bad.conll"),
                 str(tmp_path / "pred2.txt")]) != 0
    assert f"{tmp_path / 'bad.conll'}:2: 1 column(s)" in capsys.readouterr().err
    (tmp_path / "latin1.txt").write_bytes(b"a B-NP\nna\xefve O\n")  # not UTF-8
    assert main(["eval", "--metric", "chunks", str(tmp_path / "gold.txt"),
                 str(tmp_path / "latin1.txt")]) != 0
    assert f"{tmp_path / 'latin1.txt'}:2: not UTF-8 text" in capsys.readouterr().err
