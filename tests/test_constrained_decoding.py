"""Constrained decoding of decoder-only students (mckd.student.constrained): every output is a tree over
the input words, and the tokens are exactly those of greedy decoding under the constraint's mask
(checked against a step-by-step reference that reads the full logits at every position)."""

import json
import math
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("ctranslate2")

sys.path.insert(0, str(Path(__file__).parent))
from test_causal_student import causal_cfg, synthetic, tiny_causal_folder  # noqa: E402

from mckd.student.constrained import grammar_for, token_bytes  # noqa: E402
from mckd.errors import MckdError  # noqa: E402
from mckd.teacher.constraint import TreeConstraint  # noqa: E402
from mckd.trees import parse_tree  # noqa: E402


@pytest.fixture(scope="module")
def weak_model(tmp_path_factory):
    """A causal student trained one epoch: it writes broken brackets unless constrained."""
    from mckd.student.export import export_student
    from mckd.student.train import train_student

    recs = synthetic(120, seed=5, lo=3, hi=7)
    root = tmp_path_factory.mktemp("weak")
    init = tiny_causal_folder(root / "init", recs)
    train_student(recs, root / "s", causal_cfg(init, epochs=1))
    export_student(root / "s", root / "m", quantization="int8")
    return root / "m"


def test_token_bytes_byte_level_round_trip(weak_model):
    from mckd.student.relabel import load_model_dir

    tok = load_model_dir(weak_model).tok
    pieces = token_bytes(tok.tok)
    text = " ( ( mouse ) ( cells ) ) émigré → ok"
    ids = tok.tok.encode(text, add_special_tokens=False).ids
    assert b"".join(pieces[i] for i in ids) == text.encode("utf-8")
    assert pieces[tok.eos_id] == b""  # specials can never be spelled by the constraint


def test_token_bytes_metaspace_and_byte_fallback():
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    vocab = {"<unk>": 0, "<0xC3>": 1, "<0xA9>": 2, "▁(": 3, "▁)": 4, "▁gene": 5, "▁": 6, "s": 7}
    tk = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token="<unk>", byte_fallback=True))
    tk.pre_tokenizer = pre_tokenizers.Metaspace()
    tk.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(),
                                    decoders.Fuse()])
    tk.add_special_tokens(["<unk>"])
    pieces = token_bytes(tk)
    assert pieces[1] == b"\xc3" and pieces[3] == b" (" and pieces[5] == b" gene"
    assert pieces[0] == b""


def _reference(gen, tok, prompt, words, index):
    """Greedy under the mask, one full-logits call per token (slow, obviously right)."""
    import numpy as np

    c = TreeConstraint(grammar_for("unlabeled"), index, words, heal=" ")
    ids, lp = [], 0.0
    for _ in range(400):
        r = gen.generate_batch([prompt + tok.ids_to_tokens(ids)], beam_size=1, max_length=1,
                               include_prompt_in_result=False, return_logits_vocab=True)[0]
        x = np.asarray(r.logits[0], dtype=np.float64).reshape(-1)
        lse = float(x.max()) + math.log(float(np.exp(x - x.max()).sum()))
        if c.done:
            return ids, lp + x[tok.eos_id] - lse
        allowed = c.allowed()
        t = max(sorted(allowed), key=lambda i: x[i])
        c.advance(t, allowed)
        ids.append(t)
        lp += x[t] - lse
    raise AssertionError("reference decoding did not finish")


def test_constrained_equals_masked_greedy_and_every_output_is_a_tree(weak_model):
    from mckd.student.constrained import decode
    from mckd.student.relabel import Labeler

    lab = Labeler(weak_model, threads=1, decoding="constrained", engine="ctranslate2")
    free = Labeler(weak_model, threads=1, decoding="free")
    inp = synthetic(12, seed=11, lo=3, hi=8)
    words = [r["words"] for r in inp]
    out = lab.label(words)
    assert all(r["valid"] and not r["repaired"] and not r["cut"] for r in out), out
    assert [parse_tree(r["output"]).words for r in out] == words
    # the model alone does break trees, so the constraint did something
    assert sum(not r["valid"] for r in free.label(words)) >= 3
    assert sum(r["corrections"] for r in out) > 0

    # token-exact against the reference, one sentence per call (no batch arithmetic effects)
    for w in words[:4]:
        prompt = lab.tok.ids_to_tokens(lab.tok.encode_source(w))
        d = decode(lab.translator, lab.tok, "unlabeled", [prompt], [w], [400], lab._index)[0]
        ref_ids, ref_lp = _reference(lab.translator, lab.tok, prompt, w, lab._index)
        ref_text = " ".join(lab.tok.tok.decode(ref_ids).split())
        assert d.text == ref_text and d.tokens == len(ref_ids)
        assert math.isclose(d.logprob, ref_lp, abs_tol=2e-3), (d.logprob, ref_lp)


def test_token_limit_closes_the_tree_and_says_so(weak_model):
    from mckd.student.constrained import decode
    from mckd.student.relabel import Labeler

    lab = Labeler(weak_model, threads=1, decoding="constrained", engine="ctranslate2")
    w = "the gene binds a protein in mouse cells".split()
    prompt = lab.tok.ids_to_tokens(lab.tok.encode_source(w))
    d = decode(lab.translator, lab.tok, "unlabeled", [prompt], [w], [3], lab._index)[0]
    assert d.cut and d.tokens <= 3
    assert parse_tree(d.text).words == w  # closed without the model, still a tree


def test_relabel_records_decoding_and_free_is_the_old_path(tmp_path, weak_model):
    from mckd.student.relabel import relabel

    inp = synthetic(6, seed=2)
    s = relabel(weak_model, inp, tmp_path / "c.jsonl", threads=1, progress=False)
    assert s["decoding"] == "constrained" and s["valid"] == 6  # auto = constrained here
    s = relabel(weak_model, inp, tmp_path / "f.jsonl", threads=1, progress=False,
                decoding="free")
    assert s["decoding"] == "free" and s["corrections"] == 0
    rows = [json.loads(x) for x in (tmp_path / "f.jsonl").read_text().splitlines()]
    assert all("corrections" not in r for r in rows)


def test_constrained_refuses_a_seq2seq_student_clearly(tmp_path):
    from mckd.student.kinds import KINDS
    from mckd.student.relabel import resolve_decoding

    seq2seq, causal = KINDS["seq2seq"], KINDS["causal"]
    assert resolve_decoding("auto", seq2seq, "unlabeled", "m") == "free"
    assert resolve_decoding("auto", causal, "text", "m") == "free"
    assert resolve_decoding("auto", causal, "chunks", "m") == "constrained"
    with pytest.raises(MckdError, match="decoder-only student of a tree or tag format "
                                        r"\(this one is seq2seq"):
        resolve_decoding("constrained", seq2seq, "unlabeled", "m")
    with pytest.raises(MckdError, match="expected one of"):
        resolve_decoding("beam", causal, "unlabeled", "m")


def test_parse_command_takes_decoding(tmp_path, weak_model, capsys):
    from mckd.cli import main

    f = tmp_path / "in.txt"
    f.write_text("the gene binds a protein\nmouse cells were observed\n", encoding="utf-8")
    assert main(["parse", str(weak_model), str(f), "--threads", "1",
                 "--decoding", "constrained"]) == 0
    trees = capsys.readouterr().out.splitlines()
    assert [parse_tree(t).words for t in trees] == [
        "the gene binds a protein".split(), "mouse cells were observed".split()]


def test_masked_sampling_draws_only_allowed_tokens_in_proportion():
    import numpy as np

    from mckd.student.constrained import _log_softmax_at

    logits, idx, rng = [0.0, 1.0, 2.0, 3.0], [0, 2], np.random.default_rng(0)
    draws = [_log_softmax_at(logits, idx, 1.0, rng) for _ in range(4000)]
    assert {t for t, _ in draws} == {0, 2}
    # renormalised over the allowed ones: P(0) = 1 / (1 + e^2) = 0.119
    share = sum(t == 0 for t, _ in draws) / len(draws)
    assert abs(share - 1 / (1 + math.e ** 2)) < 0.02
    # the log-prob is the tempered whole distribution's
    t, lp = _log_softmax_at(logits, [3], 2.0, rng)
    x = np.array(logits) / 2.0
    assert t == 3 and math.isclose(lp, x[3] - math.log(np.exp(x).sum()))
    assert _log_softmax_at(logits, idx)[0] == 2  # temperature 0: the best allowed


def test_sampled_passes_are_trees_and_the_seed_reproduces_them(weak_model):
    from mckd.student.relabel import Labeler

    words = [r["words"] for r in synthetic(16, seed=13, lo=4, hi=8)]
    greedy = [r["output"] for r in Labeler(weak_model, threads=2).label(words)]
    runs = {}
    for key, seed in (("a", 1), ("a again", 1), ("b", 2)):
        lab = Labeler(weak_model, threads=2, temperature=1.5, seed=seed)
        assert lab.workers == 1  # so which worker draws which sentence never varies
        out = lab.label(words)
        assert all(r["valid"] for r in out) and [parse_tree(r["output"]).words
                                                 for r in out] == words
        runs[key] = [r["output"] for r in out]
    assert runs["a"] == runs["a again"]
    assert runs["a"] != runs["b"] and runs["a"] != greedy
    with pytest.raises(MckdError, match="temperature must be in"):
        Labeler(weak_model, temperature=-1)


def test_parse_votes_sampled_trees_and_relabel_writes_one_sampled_pass(tmp_path, weak_model,
                                                                      capsys):
    from mckd.cli import main

    f = tmp_path / "in.txt"
    f.write_text("the gene binds a protein in mouse cells\nmouse cells were observed\n",
                 encoding="utf-8")
    args = ["parse", str(weak_model), str(f), "--threads", "1", "--samples", "3",
            "--vote-temperature", "1.5", "--seed", "4", "--vote-threshold", "0.0"]
    outs = []
    for _ in range(2):
        assert main(args) == 0
        outs.append(capsys.readouterr().out.splitlines())
    assert outs[0] == outs[1]
    assert [parse_tree(t).words for t in outs[0]] == [
        "the gene binds a protein in mouse cells".split(), "mouse cells were observed".split()]
    assert main(args[:5] + ["--samples", "-1"]) == 2
    assert "--samples must be >= 0" in capsys.readouterr().err
    assert main(args[:5] + ["--samples", "1", "--vote-temperature", "0"]) == 2
    assert "--vote-temperature must be in (0, 10], got 0.0" in capsys.readouterr().err

    inp = tmp_path / "in.jsonl"
    inp.write_text("".join(json.dumps(r) + "\n" for r in synthetic(5, seed=3)), encoding="utf-8")
    assert main(["relabel", str(weak_model), "--input", str(inp), "--out",
                 str(tmp_path / "s.jsonl"), "--threads", "1", "--no-progress",
                 "--temperature", "1.5", "--seed", "9"]) == 0
    summary = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert (summary["temperature"], summary["seed"], summary["valid"]) == (1.5, 9, 5)


def test_parse_keeps_blank_lines_marks_invalid_outputs_and_names_bad_lines(tmp_path, weak_model,
                                                                            capsys):
    # issue 37 item 4: blank lines were dropped (6 lines in, 4 out), repaired trees were printed
    # with no sign, and a non-UTF-8 input was refused by byte offset, not line
    from mckd.cli import main

    lines = ["the gene binds a protein", "", "mouse cells were observed", "  ", "gene", ""]
    f = tmp_path / "in.txt"
    f.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert main(["parse", str(weak_model), str(f), "--threads", "1", "--decoding", "free"]) == 0
    cap = capsys.readouterr()
    out = cap.out.split("\n")[:-1]
    assert len(out) == len(lines)
    assert [o == "" for o in out] == [not ln.strip() for ln in lines]
    for o, ln in zip(out, lines):
        if ln.strip():
            assert parse_tree(o).words == ln.split()

    assert main(["parse", str(weak_model), str(f), "--threads", "1", "--decoding", "free",
                 "--json"]) == 0
    cap2 = capsys.readouterr()
    rows = [json.loads(x) for x in cap2.out.splitlines()]
    assert [r["line"] for r in rows] == list(range(1, len(lines) + 1))
    assert [r.get("blank", False) for r in rows] == [not ln.strip() for ln in lines]
    full = [r for r in rows if not r.get("blank")]
    assert [r["tree"] for r in full] == [o for o in out if o]
    # the weak model, unconstrained, writes broken brackets: each such row says so, its raw
    # output kept beside the repair, and stderr counts them
    bad = [r for r in full if not r["valid"]]
    assert bad and all(r["output"] != r["tree"] for r in bad)
    assert f"{len(bad)} of {len(full)} outputs were not a tree" in cap.err
    assert f"{len(bad)} of {len(full)} outputs were not a tree" in cap2.err

    # constrained: every output valid, nothing on stderr about it
    assert main(["parse", str(weak_model), str(f), "--threads", "1", "--json",
                 "--decoding", "constrained"]) == 0
    cap = capsys.readouterr()
    assert all(json.loads(x).get("valid", True) for x in cap.out.splitlines())
    assert "not a tree" not in cap.err

    # a committee with one student twice: allowed, but said
    assert main(["parse", str(weak_model), str(f), "--threads", "1", "--json",
                 "--with", str(weak_model)]) == 0
    cap = capsys.readouterr()
    assert "votes twice" in cap.err
    assert all(json.loads(x).get("members", 2) == 2 for x in cap.out.splitlines())

    g = tmp_path / "latin1.txt"
    g.write_bytes(b"the gene\nmouse caf\xe9 cells\n")
    assert main(["parse", str(weak_model), str(g)]) == 2
    assert "latin1.txt:2: not UTF-8 text (byte 10" in capsys.readouterr().err
