"""Decoder-only students in llama.cpp (issue 32): `mckd export` also writes the student as GGUF,
parity-checked against PyTorch, and constrained decoding runs it through the teacher's batched
engine. The outputs must be those of CTranslate2's constrained path on the same float32 weights
(token for token, with the same log-probabilities, cuts and corrections), which is itself
checked against a step-by-step masked-greedy reference (tests/test_constrained_decoding.py).
Also the lean training loss: the same loss and gradients as transformers' own."""

import json
import math
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("ctranslate2")
pytest.importorskip("gguf")
pytest.importorskip("llama_cpp")

sys.path.insert(0, str(Path(__file__).parent))
from test_causal_student import causal_cfg, synthetic, tiny_causal_folder  # noqa: E402

from mckd.errors import MckdError  # noqa: E402
from mckd.trees import parse_tree  # noqa: E402


@pytest.fixture(scope="module")
def weak(tmp_path_factory):
    """A tiny Llama (4 heads, 2 KV heads: the q/k permutation matters) trained one epoch, so it
    breaks trees unless constrained; exported float32, both engines then read the same weights."""
    from mckd.student.export import export_student
    from mckd.student.train import train_student

    recs = synthetic(120, seed=5, lo=3, hi=7)
    root = tmp_path_factory.mktemp("llama_weak")
    init = tiny_causal_folder(root / "init", recs)
    train_student(recs, root / "s", causal_cfg(init, epochs=1))
    export_student(root / "s", root / "m", quantization="float32")
    return root


def _rows(p: Path) -> list[dict]:
    return [json.loads(x) for x in p.read_text().splitlines()]


def test_export_writes_a_parity_checked_gguf(weak):
    man = json.loads((weak / "m" / "manifest.json").read_text())
    g = man["gguf"]
    assert g["written"] and (weak / "m" / "model.gguf").is_file() and g["type"] == "F32"
    pc = g["parity_check"]
    assert pc["argmax_differs"] == 0 and pc["max_logprob_abs_err"] < 1e-3 and pc["positions"] > 20
    assert man["parity_check"]["method"] == "teacher-forced"
    assert not list((weak / "m").glob(".*f32"))  # the float32 check file is gone


def test_llama_engine_equals_ctranslate2_constrained(weak, tmp_path):
    from mckd.student.relabel import relabel

    inp = synthetic(30, seed=9, lo=3, hi=9)
    a = relabel(weak / "m", inp, tmp_path / "a.jsonl", threads=1, progress=False,
                engine="ctranslate2")
    b = relabel(weak / "m", inp, tmp_path / "b.jsonl", threads=1, progress=False)  # auto
    assert a["engine"] == "ctranslate2" and b["engine"] == "llama.cpp"
    assert a["corrections"] > 0 and b["corrections"] == a["corrections"]
    for x, y in zip(_rows(tmp_path / "a.jsonl"), _rows(tmp_path / "b.jsonl")):
        assert (y["output"], y["tokens"], y["cut"], y["valid"]) == \
            (x["output"], x["tokens"], x["cut"], x["valid"])
        assert math.isclose(y["logprob"], x["logprob"], abs_tol=2e-3), (x, y)
        assert parse_tree(y["output"]).words == x["words"]


def test_llama_engine_cuts_at_the_token_limit_like_ctranslate2(weak):
    from mckd.student.constrained import decode
    from mckd.student.llama_decode import LlamaStudent
    from mckd.student.relabel import Labeler

    lab = Labeler(weak / "m", threads=1, decoding="constrained", engine="ctranslate2")
    ls = LlamaStudent(weak / "m" / "model.gguf", lab.tok, "unlabeled", threads=1)
    words = [w.split() for w in ("the gene binds a protein in mouse cells", "a gene",
                                 "these cells were observed")]
    prompts = [lab.tok.encode_source(w) for w in words]
    for limit in (0, 3, 7, 400):
        old = decode(lab.translator, lab.tok, "unlabeled",
                     [lab.tok.ids_to_tokens(p) for p in prompts], words, [limit] * 3,
                     lab._index)
        new = ls.decode(prompts, words, [limit] * 3)
        for o, n, w in zip(old, new, words):
            assert (n.text, n.tokens, n.cut) == (o.text, o.tokens, o.cut), (limit, o, n)
            assert parse_tree(n.text).words == w
    ls.close()


def test_sampling_is_masked_seeded_and_independent_of_the_batch(weak):
    from mckd.student.llama_decode import LlamaStudent
    from mckd.student.relabel import Labeler

    tok = Labeler(weak / "m", threads=1, decoding="constrained").tok
    ls = LlamaStudent(weak / "m" / "model.gguf", tok, "unlabeled", threads=1, parallel=4)
    words = [r["words"] for r in synthetic(10, seed=3, lo=4, hi=8)]
    prompts = [tok.encode_source(w) for w in words]
    keys = [f"s{i}" for i in range(10)]
    one = ls.decode(prompts, words, [400] * 10, temperature=1.5, seed=7, keys=keys)
    again = ls.decode(prompts[::-1], words[::-1], [400] * 10, temperature=1.5, seed=7,
                      keys=keys[::-1])[::-1]
    other = ls.decode(prompts, words, [400] * 10, temperature=1.5, seed=8, keys=keys)
    greedy = ls.decode(prompts, words, [400] * 10)
    assert [d.text for d in one] == [d.text for d in again]  # its own seed, any batch
    assert [d.text for d in one] != [d.text for d in other]
    assert [d.text for d in one] != [d.text for d in greedy]
    assert all(parse_tree(d.text).words == w for d, w in zip(one + other, words + words))
    ls.close()


def test_committee_and_samples_run_on_the_llama_engine(weak):
    from mckd.student.relabel import parse_committee, parse_lines
    from mckd.teacher import engine

    lines = ["the gene binds a protein", "these cells were observed in mouse"]
    calls = engine.STATS["decode_calls"]
    one = list(parse_lines(weak / "m", lines, threads=1))
    votes = list(parse_committee([weak / "m", weak / "m"], lines, threads=1, samples=2))
    assert engine.STATS["decode_calls"] > calls
    assert [parse_tree(t).words for t in one + votes] == [x.split() for x in lines] * 2


def test_engine_choice_is_checked(weak, tmp_path):
    from mckd.student.relabel import relabel

    with pytest.raises(MckdError, match="llama.cpp decodes under the tree constraint only"):
        relabel(weak / "m", synthetic(2), tmp_path / "x.jsonl", decoding="free",
                engine="llama.cpp", progress=False)
    with pytest.raises(MckdError, match="engine 'vllm'"):
        relabel(weak / "m", synthetic(2), tmp_path / "x.jsonl", engine="vllm", progress=False)
    bare = tmp_path / "no_gguf"
    bare.mkdir()
    for f in (weak / "m").iterdir():
        if f.name != "model.gguf":
            (bare / f.name).write_bytes(f.read_bytes())
    s = relabel(bare, synthetic(2), tmp_path / "y.jsonl", threads=1, progress=False)
    assert s["engine"] == "ctranslate2"  # auto without a GGUF: the CTranslate2 path
    with pytest.raises(MckdError, match="no model.gguf"):
        relabel(bare, synthetic(2), tmp_path / "z.jsonl", engine="llama.cpp", progress=False)


def test_a_wrong_gguf_fails_the_parity_check(weak, tmp_path, monkeypatch):
    """A writer that gets the norms wrong (Gemma's +1 is this kind of bug): refused."""
    import safetensors.numpy as SN

    import mckd.student.gguf_export as G
    from mckd.student.causal import ForcedReference

    load = SN.load_file

    def wrong_norms(path):
        return {k: v * 3 if k.endswith("layernorm.weight") else v for k, v in load(path).items()}

    monkeypatch.setattr(SN, "load_file", wrong_norms)
    G.write_gguf(weak / "s", tmp_path / "bad.gguf")
    ref = ForcedReference(weak / "s", [["the", "gene", "binds"], ["a", "mouse", "protein"]])
    with pytest.raises(MckdError, match="parity check failed: llama.cpp"):
        ref.check_gguf(tmp_path / "bad.gguf")
    monkeypatch.setattr(SN, "load_file", load)
    G.write_gguf(weak / "s", tmp_path / "good.gguf")
    assert ref.check_gguf(tmp_path / "good.gguf")["argmax_differs"] == 0


def test_unsupported_architecture_keeps_ctranslate2(weak, tmp_path):
    import shutil

    from mckd.student.gguf_export import GgufUnsupported, gguf_support, write_gguf

    d = tmp_path / "s"
    shutil.copytree(weak / "s", d)
    cfg = json.loads((d / "config.json").read_text())
    cfg["model_type"] = "gemma3_text"
    (d / "config.json").write_text(json.dumps(cfg))
    assert "gemma3_text" in gguf_support(d)
    with pytest.raises(GgufUnsupported):
        write_gguf(d, tmp_path / "x.gguf")


def test_target_loss_equals_the_plain_loss_and_gradients(weak):
    import torch
    from transformers import AutoModelForCausalLM

    from mckd.student.causal import make_batch, target_loss

    m = AutoModelForCausalLM.from_pretrained(weak / "init").float()
    g = torch.Generator().manual_seed(0)
    V = m.config.vocab_size
    srcs = [torch.randint(3, V, (n,), generator=g).tolist() for n in (5, 9, 4)]
    tgts = [torch.randint(3, V, (n,), generator=g).tolist() for n in (7, 3, 11)]
    x, y, am = make_batch(srcs, tgts, 0, torch)
    plain = m(input_ids=x, attention_mask=am, labels=y).loss
    plain.backward()
    ref = {k: p.grad.clone() for k, p in m.named_parameters()}
    m.zero_grad()
    lean = target_loss(m, x, y, am, chunk=4)  # several chunks
    lean.backward()
    assert math.isclose(float(lean), float(plain), rel_tol=1e-6)
    for k, p in m.named_parameters():
        assert torch.allclose(p.grad, ref[k], atol=1e-6), k


def test_command_lines_take_the_engine(weak, tmp_path, capsys):
    from mckd.cli import main

    inp = tmp_path / "in.jsonl"
    inp.write_text("".join(json.dumps(r) + "\n" for r in synthetic(4, seed=4)))
    assert main(["relabel", str(weak / "m"), "--input", str(inp), "--out",
                 str(tmp_path / "l.jsonl"), "--no-progress", "--threads", "1"]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["engine"] == "llama.cpp"
    f = tmp_path / "s.txt"
    f.write_text("the gene binds a protein\nthese cells were observed\n")
    outs = {}
    for engine in ("ctranslate2", "llama.cpp"):
        assert main(["parse", str(weak / "m"), str(f), "--threads", "1",
                     "--engine", engine]) == 0
        outs[engine] = capsys.readouterr().out.splitlines()
    assert outs["ctranslate2"] == outs["llama.cpp"] and len(outs["llama.cpp"]) == 2
