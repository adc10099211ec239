"""Decoder-only (causal LM) students end to end on a TINY random Llama (hidden 64, 2 layers, a
byte-level BPE vocabulary trained on the toy data): train with the loss on the target only,
export to a CTranslate2 Generator with the parity check, relabel, and `mckd parse` with torch
and transformers made unimportable. One slow test does the same from the packaged SmolLM2 GGUF.
"""

import json
import math
import random
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("ctranslate2")

from mckd.errors import MckdError  # noqa: E402
from mckd.trees import parse_tree  # noqa: E402

VOCAB = "the a gene protein binds to of in mouse cells was were observed these".split()
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]  # unk/pad, bos, eos (SmolLM2's)


def right_branching(words):
    t = f"( {words[-1]} )"
    for w in reversed(words[:-1]):
        t = f"( ( {w} ) {t} )"
    return t


def synthetic(n, seed=0, lo=2, hi=4):
    rng = random.Random(seed)
    out = []
    for i in range(n):
        w = [rng.choice(VOCAB) for _ in range(rng.randint(lo, hi))]
        out.append({"id": f"c{i}", "words": w, "target": right_branching(w)})
    return out


def tiny_causal_folder(d: Path, records) -> Path:
    """An HF causal-LM folder: a random 2-layer Llama and a BPE tokenizer.json of the data."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM

    tk = Tokenizer(models.BPE())
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tk.decoder = decoders.ByteLevel()
    texts = [" ".join(r["words"]) + " => " + r["target"] for r in records]
    tk.train_from_iterator(texts, trainers.BpeTrainer(
        vocab_size=320, special_tokens=SPECIALS, show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    d.mkdir(parents=True)
    tk.save(str(d / "tokenizer.json"))
    (d / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "PreTrainedTokenizerFast", "bos_token": SPECIALS[1],
        "eos_token": SPECIALS[2], "unk_token": SPECIALS[0], "pad_token": SPECIALS[0]}))
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=tk.get_vocab_size(), hidden_size=64, intermediate_size=128,
                      num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                      max_position_embeddings=256, tie_word_embeddings=True,
                      pad_token_id=0, bos_token_id=1, eos_token_id=2)
    LlamaForCausalLM(cfg).save_pretrained(d)
    return d


def causal_cfg(init, **kw):
    from mckd.student.config import TrainConfig

    base = dict(init=str(init), epochs=40, batch_size=16, lr=3e-3, warmup=0.0, threads=1,
                quiet=True, seed=0)
    base.update(kw)
    return TrainConfig(**base)


@pytest.fixture(scope="module")
def records():
    return synthetic(200)


@pytest.fixture(scope="module")
def init_dir(tmp_path_factory, records):
    return tiny_causal_folder(tmp_path_factory.mktemp("causal") / "init", records)


@pytest.fixture(scope="module")
def student(tmp_path_factory, records, init_dir):
    from mckd.student.train import train_student

    d = tmp_path_factory.mktemp("causal_student") / "s"
    assert train_student(records, d, causal_cfg(init_dir)) == d
    return d


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, student):
    from mckd.student.export import export_student

    out = tmp_path_factory.mktemp("causal_ct2") / "m"
    export_student(student, out, quantization="int8")
    return out


def test_init_kinds_are_recognised(tmp_path, init_dir):
    from mckd.student.causal import check_init_spec, init_kind

    assert init_kind(str(init_dir)) == "causal"
    assert init_kind("smollm2") == "gguf"  # by name, without reading any package
    assert init_kind(str(tmp_path)) == "seq2seq"  # not causal: the seq2seq loader explains
    g = tmp_path / "m.gguf"
    g.write_bytes(b"GGUF")
    assert init_kind(str(g)) == "gguf"
    with pytest.raises(MckdError, match="no such .gguf file"):
        init_kind(str(tmp_path / "missing.gguf"))
    check_init_spec("smollm2")
    check_init_spec(str(g))
    with pytest.raises(MckdError, match="no such folder"):
        check_init_spec("/no/such/checkpoint")
    with pytest.raises(MckdError, match="no such folder"):
        check_init_spec("not-a-packaged-model")


def test_prompt_tokens_carry_no_loss(init_dir, records):
    import torch

    from mckd.student.causal import load_tokenizer, make_batch

    tok = load_tokenizer(str(init_dir), "unlabeled")
    srcs = [tok.encode_source(r["words"]) for r in records[:3]]
    tgts = [tok.encode_target(r["target"]) for r in records[:3]]
    assert all(t[-1] == tok.eos_id == tok.tok.token_to_id("<|im_end|>") for t in tgts)
    assert tok.tok.decode(srcs[0]) == " ".join(records[0]["words"]) + " =>"
    x, y, am = make_batch(srcs, tgts, tok.pad_id, torch)
    for i, (s, t) in enumerate(zip(srcs, tgts)):
        n = len(s) + len(t)
        assert x[i, :n].tolist() == s + t
        assert (y[i, :len(s)] == -100).all()  # the prompt: no loss
        assert y[i, len(s):n].tolist() == t  # the target and its EOS: the loss
        assert (y[i, n:] == -100).all() and am[i, :n].all() and not am[i, n:].any()


def test_training_lowers_the_loss_and_saves_a_causal_student(student, init_dir):
    meta = json.loads((student / "mckd_student.json").read_text())
    assert meta["student_kind"] == "causal" and meta["model_type"] == "llama"
    assert meta["init"] == str(init_dir) and meta["leaves"] == "words"
    hist = meta["history"]
    assert hist[-1]["loss"] < 0.5 * hist[0]["loss"]
    tmeta = json.loads((student / "mckd_tokenizer.json").read_text())
    assert tmeta["kind"] == "hf" and tmeta["causal"]["eos"] == "<|im_end|>"
    for f in ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"):
        assert (student / f).is_file(), f


def test_export_uses_a_generator_and_parity_holds(model_dir):
    import ctranslate2

    mm = json.loads((model_dir / "mckd_model.json").read_text())
    assert mm["student_kind"] == "causal" and mm["model_type"] == "llama"
    parity = json.loads((model_dir / "manifest.json").read_text())["parity_check"]
    # teacher-forced: every position of every probe, the whole distribution compared
    assert parity["method"] == "teacher-forced" and parity["inputs"] >= 8
    assert parity["argmax_differs"] == 0 and parity["max_logprob_abs_err"] < 1e-3
    ctranslate2.Generator(str(model_dir), device="cpu")  # loads as a decoder-only model


def test_export_parity_catches_a_wrong_conversion(tmp_path, student, monkeypatch):
    """A converter that reads a wrong RMSNorm epsilon: the parity check must refuse the export."""
    import mckd.student.export as E

    good = E._converter_class()

    class Broken(good):
        def load_model(self, *a, **kw):
            model = super().load_model(*a, **kw)
            model.config.rms_norm_eps = 10.0  # every hidden state is scaled down in CT2
            return model

    monkeypatch.setattr(E, "_converter_class", lambda: Broken)
    with pytest.raises(MckdError, match="parity check failed"):
        E.export_student(student, tmp_path / "m", quantization="float32")
    assert not (tmp_path / "m").exists()


def test_relabel_gives_repaired_trees_with_the_t5_fields(tmp_path, model_dir, records):
    from mckd.student.relabel import relabel

    inp = synthetic(10, seed=3)
    out = tmp_path / "labels.jsonl"
    summary = relabel(model_dir, inp, out, threads=1, progress=False)
    assert summary["n"] == 10
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    keys = {"id", "source", "words", "target", "output", "valid", "repaired", "logprob",
            "logprob_mean", "tokens", "cut", "problems"}
    for r, x in zip(rows, inp):
        assert keys <= set(r) and r["id"] == x["id"]
        assert parse_tree(r["target"]).words == x["words"]  # repaired over the input words
        assert isinstance(r["output"], str) and r["valid"] != r["repaired"]
        n = r["tokens"] + (0 if r["cut"] else 1)
        assert r["logprob"] <= 0 and math.isclose(r["logprob_mean"], r["logprob"] / n,
                                                  abs_tol=1e-5)
    # the student learned the task: most outputs are its own well-formed trees
    assert sum(r["valid"] for r in rows) >= 5, [r["output"] for r in rows]


def test_parse_runs_without_torch_or_transformers(tmp_path_factory, model_dir):
    """`mckd parse` of a causal student in a venv without torch and transformers (the
    deployment of tests/test_offline_parse.py: only mckd, ctranslate2, tokenizers, numpy,
    PyYAML), with a guard that neither got imported."""
    sys.path.insert(0, str(Path(__file__).parent))
    from test_offline_parse import torch_free_env

    work = tmp_path_factory.mktemp("causal_offline")
    py, env, how = torch_free_env(work)
    py = str(py)
    r = subprocess.run([py, "-c", "import torch"], env=env, capture_output=True, text=True)
    assert r.returncode != 0 and "ModuleNotFoundError" in r.stderr, how

    sentences = ["the gene binds a protein", "these cells were observed in mouse", "gene"]
    f = work / "in.txt"
    f.write_text("\n".join(sentences) + "\n", encoding="utf-8")
    guard = ("import sys; import mckd.cli; rc = mckd.cli.main(sys.argv[1:]); "
             "bad = [m for m in ('torch', 'transformers') if m in sys.modules]; "
             "assert not bad, bad; sys.exit(rc)")
    r = subprocess.run([py, "-c", guard, "parse", str(model_dir), str(f), "--threads", "1"],
                       env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    trees = r.stdout.splitlines()
    assert [parse_tree(t).words for t in trees] == [s.split() for s in sentences]


def test_resume_and_retrain_guard(tmp_path, records, init_dir, student):
    """The same records and settings are not retrained (the causal tokenizer reloads)."""
    from mckd.student.train import train_student

    assert train_student(records, student, causal_cfg(init_dir)) == student
    with pytest.raises(MckdError, match="other records"):
        train_student(records[:20], student, causal_cfg(init_dir))


def test_fidelity_stop_decodes_a_causal_student(tmp_path, records, init_dir):
    """stop=fidelity re-decodes training records with PyTorch greedy (the causal path)."""
    from mckd.student.train import train_student

    s = train_student(records[:40], tmp_path / "s",
                      causal_cfg(init_dir, epochs=2, stop="fidelity", fidelity_sample=6))
    meta = json.loads((s / "mckd_student.json").read_text())
    assert len(meta["fidelity"]) == 2 and all(0 <= f <= 100 for f in meta["fidelity"])


@pytest.mark.parametrize("cut", [False, True])
def test_torch_constrained_greedy_equals_relabel(tmp_path, records, init_dir, monkeypatch, cut):
    """The PyTorch masked greedy decoder (stop=dev's) writes what `mckd relabel` writes with
    CTranslate2 (float32 export), on an under-trained student that needs the constraint, and
    where the length limit cuts the trees (both close them without the model)."""
    import torch  # noqa: F401
    from transformers import AutoModelForCausalLM

    import mckd.student.relabel as rl
    import mckd.student.tokenizer as tk
    from mckd.jsonio import read_jsonl
    from mckd.student.causal import constrained_greedy
    from mckd.student.export import export_student
    from mckd.student.tokenizer import StudentTokenizer
    from mckd.student.train import train_student
    from mckd.trees import delinearize

    s = train_student(records[:40], tmp_path / "s", causal_cfg(init_dir, epochs=1))
    export_student(s, tmp_path / "ct2", quantization="float32")
    if cut:
        monkeypatch.setattr(tk, "max_decoding_length", lambda bound, n, src: 5)
        monkeypatch.setattr(rl, "max_decoding_length", lambda bound, n, src: 5)
    dev = records[150:180]
    rl.relabel(tmp_path / "ct2", [{"id": r["id"], "words": r["words"]} for r in dev],
               tmp_path / "rel.jsonl", progress=False, decoding="constrained")
    rel = read_jsonl(tmp_path / "rel.jsonl")
    meta = json.loads((s / "mckd_student.json").read_text())
    mine = constrained_greedy(AutoModelForCausalLM.from_pretrained(s), StudentTokenizer.load(s),
                              [r["words"] for r in dev], meta["length_bound"], "cpu", "unlabeled")
    assert mine == [r["output"] for r in rel]
    assert all(not delinearize(o, r["words"], "unlabeled").repaired for o, r in zip(mine, dev))
    assert any(r["cut"] for r in rel) == cut


def _scripted_dev(monkeypatch, scores):
    """measure_dev returns `scores` in turn and keeps a copy of the weights it scored."""
    import mckd.student.train as tr

    seen = []

    def fake(model, tok, dev, bound, device, fmt):
        seen.append({k: v.detach().clone() for k, v in model.state_dict().items()})
        return scores[len(seen) - 1]

    monkeypatch.setattr(tr, "measure_dev", fake)
    return seen


def _saved_weights(student_dir):
    from safetensors.torch import load_file

    return load_file(str(student_dir / "model.safetensors"))


def test_dev_stop_keeps_the_best_epoch_and_resumes(tmp_path, records, init_dir, monkeypatch):
    """stop=dev: scored every epoch on held-out records; stops `dev_patience` epochs after the
    best and saves the best epoch's weights; an interrupted run ends with the same weights."""
    import torch

    from mckd.student.train import train_student

    cfg = dict(epochs=8, stop="dev", dev_patience=2)
    train, dev = records[:40], records[40:46]
    seen = _scripted_dev(monkeypatch, [10.0, 30.0, 20.0, 25.0, 99.0])
    s = train_student(train, tmp_path / "a", causal_cfg(init_dir, **cfg), dev_records=dev)
    meta = json.loads((s / "mckd_student.json").read_text())
    assert meta["stopped_by"] == "dev" and meta["epochs_run"] == 4  # epoch 5 never ran
    assert meta["dev"] == {"records": 6, "best_epoch": 2, "best_f1": 30.0}
    assert [h["dev_f1"] for h in meta["history"]] == [10.0, 30.0, 20.0, 25.0]
    saved = _saved_weights(s)
    assert len(seen) == 4 and not torch.equal(seen[1]["model.norm.weight"], seen[3]["model.norm.weight"])
    assert all(torch.equal(saved[k], seen[1][k]) for k in saved)  # epoch 2's, not the last

    # interrupted after epoch 3 (the best, epoch 2, lives in the checkpoint), then resumed
    _scripted_dev(monkeypatch, [10.0, 30.0, 20.0])
    train_student(train, tmp_path / "b", causal_cfg(init_dir, stop_after_epochs=3, **cfg),
                  dev_records=dev)
    assert not (tmp_path / "b" / "mckd_student.json").exists()
    again = _scripted_dev(monkeypatch, [25.0])
    train_student(train, tmp_path / "b", causal_cfg(init_dir, **cfg), dev_records=dev)
    assert len(again) == 1
    resumed = _saved_weights(tmp_path / "b")
    assert all(torch.equal(resumed[k], saved[k]) for k in saved)


def test_dev_stop_scores_raw_outputs_and_checks_its_records(tmp_path, records, init_dir):
    """The real dev score (PyTorch greedy, nothing repaired) and the errors around it."""
    from mckd.student.train import train_student

    with pytest.raises(MckdError, match="needs labeled dev records"):
        train_student(records[:40], tmp_path / "x", causal_cfg(init_dir, stop="dev"))
    with pytest.raises(MckdError, match="also training records"):
        train_student(records[:40], tmp_path / "x", causal_cfg(init_dir, stop="dev"),
                      dev_records=records[35:45])
    with pytest.raises(MckdError, match="dev_patience"):
        causal_cfg(init_dir, stop="dev", dev_patience=0).resolved()
    s = train_student(records[:40], tmp_path / "s", causal_cfg(init_dir, epochs=2, stop="dev"),
                      dev_records=records[40:46])
    meta = json.loads((s / "mckd_student.json").read_text())
    f1s = [h["dev_f1"] for h in meta["history"]]
    assert len(f1s) == 2 and all(0 <= f <= 100 for f in f1s)
    assert meta["dev"]["best_f1"] == max(f1s) and meta["stopped_by"] == "epochs"


def test_measure_dev_gives_zero_to_what_is_not_a_tree_over_the_words(monkeypatch):
    """Decoded freely (a seq2seq student's path), an output that does not balance, or has a
    leaf too many, scores 0; nothing is repaired."""
    import mckd.student.train as tr

    words = ["the", "gene", "binds"]
    gold = right_branching(words)
    outs = {0: gold, 1: "( ( the ) ( gene ) ( binds )", 2: "( ( the ) ( gene ) ( binds ) ( x ) )"}

    class Tok:
        causal = None

        def ids_to_tokens(self, g):
            return g

        def decode(self, toks, w):
            return outs[toks]

    for k, want in ((0, 100.0), (1, 0.0), (2, 0.0)):
        monkeypatch.setattr(tr, "greedy_decode", lambda m, t, ws, b, d, k=k: [k])
        got = tr.measure_dev(None, Tok(), [{"words": words, "target": gold}], {}, "cpu",
                             "unlabeled")
        assert got == want, (k, got)


def test_dev_patience_enters_the_fingerprint_only_with_stop_dev(records, init_dir):
    """A student trained before stop=dev existed keeps its fingerprint (and its checkpoint)."""
    from mckd.student.batches import prepare_records
    from mckd.student.train import _fingerprint

    recs = prepare_records(records[:10], "unlabeled")
    fp = lambda **kw: _fingerprint(causal_cfg(init_dir, **kw).resolved(), recs, 1)  # noqa: E731
    assert fp() == fp(dev_patience=5)
    assert fp(stop="dev") != fp(stop="dev", dev_patience=5)


def test_train_command_line_dev_flag(tmp_path, records, init_dir, capsys):
    """`mckd train --dev` reads held-out records for stop=dev and refuses them otherwise."""
    from mckd.cli import main
    from mckd.jsonio import write_jsonl_atomic

    write_jsonl_atomic(tmp_path / "train.jsonl", records[:40])
    write_jsonl_atomic(tmp_path / "dev.jsonl", records[40:46])
    base = ["train", "--train", str(tmp_path / "train.jsonl"), "--init", str(init_dir),
            "--dev", str(tmp_path / "dev.jsonl")]
    assert main(base + ["--out", str(tmp_path / "no"), "epochs=1"]) != 0
    assert not (tmp_path / "no" / "mckd_student.json").exists()
    (tmp_path / "bad.jsonl").write_text('{"id": "d0", "words": ["a"]}\nnot json\n')
    bad = base[:-1] + [str(tmp_path / "bad.jsonl"), "--out", str(tmp_path / "bad"), "stop=dev"]
    assert main(bad) == 2
    err = capsys.readouterr().err
    assert "bad.jsonl:2: invalid JSON" in err, err
    assert not (tmp_path / "bad").exists()
    assert main(base + ["--out", str(tmp_path / "s"), "epochs=1", "stop=dev", "threads=1",
                        "batch_size=16", "quiet=true"]) == 0
    meta = json.loads((tmp_path / "s" / "mckd_student.json").read_text())
    assert meta["dev"]["records"] == 6 and meta["dev"]["best_epoch"] == 1


def test_train_export_relabel_command_lines(tmp_path, records, init_dir, capsys):
    """`mckd train --init CAUSAL_DIR`, `mckd export`, `mckd relabel` on a causal student."""
    from mckd.cli import main
    from mckd.jsonio import write_jsonl_atomic

    f = tmp_path / "t.jsonl"
    write_jsonl_atomic(f, records[:16])
    s, m = tmp_path / "s", tmp_path / "m"
    assert main(["train", "--train", str(f), "--out", str(s), "--init", str(init_dir),
                 "--epochs", "1", "batch_size=8", "quiet=true", "threads=1"]) == 0
    assert json.loads((s / "mckd_student.json").read_text())["student_kind"] == "causal"
    assert main(["export", str(s), "--out", str(m), "--quantization", "float32"]) == 0
    assert json.loads(capsys.readouterr().out)["parity"]["inputs"] >= 4
    inp = tmp_path / "in.jsonl"
    write_jsonl_atomic(inp, [{"id": r["id"], "words": r["words"]} for r in records[:5]])
    out = tmp_path / "out.jsonl"
    assert main(["relabel", str(m), "--input", str(inp), "--out", str(out), "--no-progress",
                 "--threads", "1"]) == 0
    assert json.loads(capsys.readouterr().out)["n"] == 5


@pytest.mark.slow
def test_smollm2_gguf_student_trains_and_exports(tmp_path):
    """init="smollm2": the packaged GGUF, dequantized, fine-tuned 1 step, exported (int8)."""
    pytest.importorskip("gguf")
    pytest.importorskip("accelerate")
    from mckd.teacher.models import resolve_model

    try:
        resolve_model("smollm2")
    except MckdError as e:
        pytest.skip(str(e))
    from mckd.student.export import export_student
    from mckd.student.relabel import relabel
    from mckd.student.train import train_student

    recs = synthetic(4, seed=1, lo=2, hi=3)
    s = train_student(recs, tmp_path / "s", causal_cfg("smollm2", epochs=1, max_steps=1,
                                                       batch_size=4, lr=1e-5, threads=0))
    meta = json.loads((s / "mckd_student.json").read_text())
    assert meta["student_kind"] == "causal" and meta["steps"] == 1
    assert meta["params"] > 100e6
    tmeta = json.loads((s / "mckd_tokenizer.json").read_text())
    assert tmeta["causal"]["eos"] == "<|im_end|>"
    export_student(s, tmp_path / "m", quantization="int8", check_inputs=[["the", "gene"]])
    manifest = json.loads((tmp_path / "m" / "manifest.json").read_text())
    assert manifest["parity_check"]["argmax_differs"] == 0
    assert manifest["gguf"]["written"] and manifest["gguf"]["parity_check"]["argmax_differs"] == 0
    summary = relabel(tmp_path / "m", recs[:2], tmp_path / "l.jsonl", threads=0, progress=False)
    assert summary["n"] == 2
