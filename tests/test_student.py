"""Students end to end on a tiny synthetic task: train (loss falls, exact resume), export to
CTranslate2 (parity check, and that it catches a wrong conversion), relabel / parse (valid trees
over the input words, resumable), and clear errors for bad folders, formats and inputs.

Everything runs on CPU with the smallest arch in well under a minute.
"""

import io
import json
import random
import shutil

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("ctranslate2")

from mckd.errors import MckdError  # noqa: E402
from mckd.trees import parse_tree  # noqa: E402

VOCAB = ("the a cell gene protein binds to of in mouse human cells expression was were is "
         "observed found strongly weakly these".split())


def right_branching(words):
    """( ( w1 ) ( ( w2 ) ( w3 ) ) ): a learnable synthetic target."""
    t = f"( {words[-1]} )"
    for w in reversed(words[:-1]):
        t = f"( ( {w} ) {t} )"
    return t


def synthetic(n, seed=0):
    rng = random.Random(seed)
    recs = []
    for i in range(n):
        words = [rng.choice(VOCAB) for _ in range(rng.randint(3, 7))]
        recs.append({"id": f"s{i}", "words": words, "source": " ".join(words),
                     "target": right_branching(words)})
    return recs


def tiny_cfg(**kw):
    from mckd.student.config import TrainConfig

    base = dict(arch="t5-micro", epochs=4, batch_size=8, lr=3e-3, warmup=0.0, threads=0,
                quiet=True, seed=0, vocab_size=200, keep_checkpoint=False)
    base.update(kw)
    return TrainConfig(**base)


@pytest.fixture(scope="module")
def records():
    return synthetic(32)


@pytest.fixture(scope="module")
def student(tmp_path_factory, records):
    from mckd.student.train import train_student

    d = tmp_path_factory.mktemp("student") / "s"
    assert train_student(records, d, tiny_cfg()) == d
    return d


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, student):
    from mckd.student.export import export_student

    out = tmp_path_factory.mktemp("ct2") / "m"
    export_student(student, out, quantization="int8")
    return out


def _meta(d):
    return json.loads((d / "mckd_student.json").read_text())


def test_loss_falls_and_folder_is_complete(student):
    meta = _meta(student)
    losses = [h["loss"] for h in meta["history"]]
    assert len(losses) == 4
    assert losses[-1] < 0.7 * losses[0], losses
    for f in ("config.json", "model.safetensors", "tokenizer.json", "mckd_tokenizer.json"):
        assert (student / f).is_file()
    assert not (student / "checkpoint.pt").exists()  # dropped once training finished
    assert meta["format"] == "unlabeled" and meta["leaves"] == "indexed"
    assert meta["seeds"]["model_init_and_dropout"] == 0
    # what a machine needs for this run, per epoch: the process's peak RSS never falls, and
    # holds at least the model's weights
    peaks = [h["peak_rss_mb"] for h in meta["history"]]
    assert peaks == sorted(peaks) and peaks[0] > meta["params"] * 4 / 2**20


def test_same_records_and_settings_are_not_retrained(student, records):
    from mckd.student.train import train_student

    before = (student / "model.safetensors").stat().st_mtime_ns
    train_student(records, student, tiny_cfg())
    assert (student / "model.safetensors").stat().st_mtime_ns == before
    with pytest.raises(MckdError, match="other records/settings"):
        train_student(records, student, tiny_cfg(lr=1e-3))


def test_interrupted_training_resumes_to_the_same_weights(tmp_path, student, records):
    from safetensors.torch import load_file

    from mckd.student.train import train_student

    d = tmp_path / "s"
    train_student(records, d, tiny_cfg(stop_after_epochs=2))
    assert (d / "checkpoint.pt").is_file() and not (d / "mckd_student.json").exists()
    train_student(records, d, tiny_cfg())  # resumes after epoch 2
    a, b = load_file(student / "model.safetensors"), load_file(d / "model.safetensors")
    assert a.keys() == b.keys()
    for k in a:
        assert (a[k] == b[k]).all(), k
    assert [h["loss"] for h in _meta(d)["history"]] == [h["loss"] for h in _meta(student)["history"]]


def test_training_killed_inside_an_epoch_resumes_from_its_last_step_to_the_same_weights(
        tmp_path, student, records, monkeypatch):
    """checkpoint_minutes: saved after optimizer steps inside an epoch; a run killed in the
    middle of epoch 2 redoes none of its finished batches and ends with the same weights and
    losses as the unbroken `student` (batch order and dropout are restored, not redrawn)."""
    import torch
    from safetensors.torch import load_file

    from mckd.student.checkpoint import load_checkpoint
    from mckd.student.train import train_student

    real = torch.nn.Module.__call__
    calls = {"n": 0}

    def killed_at_the_seventh(self, *a, **k):  # 1: memory check, 2-5: epoch 1, 6-9: epoch 2
        if self.__class__.__name__.endswith("ForConditionalGeneration") and "labels" in k:
            calls["n"] += 1
            if calls["n"] == 7:
                raise KeyboardInterrupt
        return real(self, *a, **k)

    d = tmp_path / "s"
    monkeypatch.setattr(torch.nn.Module, "__call__", killed_at_the_seventh)
    with pytest.raises(KeyboardInterrupt):
        train_student(records, d, tiny_cfg(checkpoint_minutes=1e-9))  # a save at every step
    ckpt = load_checkpoint(d / "checkpoint.pt")
    assert (ckpt["epoch"], ckpt["step"], ckpt["partial"]["batches"]) == (1, 5, 1)
    calls["n"] = -100  # no more interruptions; count the batches the resume trains
    train_student(records, d, tiny_cfg())
    assert calls["n"] == -100 + 1 + 3 + 4 + 4  # memory check, rest of epoch 2, epochs 3 and 4
    a, b = load_file(student / "model.safetensors"), load_file(d / "model.safetensors")
    for k in a:
        assert (a[k] == b[k]).all(), k
    assert [h["loss"] for h in _meta(d)["history"]] == [h["loss"] for h in _meta(student)["history"]]


def test_export_writes_manifest_and_parity_holds(model_dir, student):
    man = json.loads((model_dir / "manifest.json").read_text())
    p = man["parity_check"]
    assert p["inputs"] >= 4 and p["identical"] + p["ties"] == p["inputs"]
    assert p["max_score_abs_err"] < 1e-2
    assert man["quantization"] == "int8" and man["ctranslate2"] and man["transformers"]
    assert len(man["source_checkpoint_sha256"]) == 64
    m = json.loads((model_dir / "mckd_model.json").read_text())
    assert m["format"] == "unlabeled" and m["length_bound"]["per_word"] > 0


def test_export_fails_loudly_on_a_wrong_conversion(tmp_path, student, monkeypatch):
    """A converter that drops T5's decoder-output scaling (the transformers-5 bug class)."""
    import mckd.student.export as E

    good = E._converter_class()

    class Broken(good):
        def load_model(self, *a, **kw):
            model = super().load_model(*a, **kw)
            model.config.tie_word_embeddings = False  # no d_model**-0.5 scaling in CT2
            return model

    monkeypatch.setattr(E, "_converter_class", lambda: Broken)
    with pytest.raises(MckdError, match="parity check failed"):
        E.export_student(student, tmp_path / "m", quantization="float32")
    assert not (tmp_path / "m").exists()


def test_relabel_gives_valid_trees_and_resumes(tmp_path, model_dir, monkeypatch):
    import mckd.student.relabel as R

    inputs = [{"id": r["id"], "words": r["words"]} for r in synthetic(10, seed=1)]
    out = tmp_path / "labels.jsonl"
    s = R.relabel(model_dir, inputs, out, progress=False, chunk=4)
    assert s["n"] == 10 and s["resumed"] == 0
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert [r["id"] for r in rows] == [r["id"] for r in inputs]
    for r, inp in zip(rows, inputs):
        assert parse_tree(r["target"]).words == inp["words"]
        assert r["logprob"] <= 0 and isinstance(r["repaired"], bool)
        # the raw decoded text is kept beside the repaired tree; valid means it needed nothing
        assert isinstance(r["output"], str)
        assert r["valid"] is (not r["repaired"])
        if r["valid"]:
            assert parse_tree(r["output"]).words == inp["words"]
    # after 4 epochs the student already finds most right-branching constituents
    from mckd.metrics.spans import fidelity_f1

    f1 = fidelity_f1([r["target"] for r in rows], [right_branching(i["words"]) for i in inputs],
                     "unlabeled")
    assert f1 > 50, [r["target"] for r in rows]

    # interrupted after the first chunk: the re-run labels only the rest, same result
    out2 = tmp_path / "labels2.jsonl"
    real, calls = R.Labeler.label, []

    def flaky(self, words, ids=None):
        if calls:
            raise KeyboardInterrupt
        calls.append(1)
        return real(self, words, ids)

    monkeypatch.setattr(R.Labeler, "label", flaky)
    with pytest.raises(KeyboardInterrupt):
        R.relabel(model_dir, inputs, out2, progress=False, chunk=4)
    assert not out2.exists() and out2.with_name(out2.name + ".partial").exists()
    monkeypatch.setattr(R.Labeler, "label", real)
    s2 = R.relabel(model_dir, inputs, out2, progress=False, chunk=4)
    assert s2["resumed"] == 4 and s2["labelled_now"] == 6
    rows2 = [json.loads(x) for x in out2.read_text().splitlines()]
    assert [r["target"] for r in rows2] == [r["target"] for r in rows]


def test_a_gpu_ctranslate2_cannot_use_falls_back_to_cpu_or_fails_early(model_dir,
                                                                         monkeypatch, capsys):
    """CTranslate2 loads its CUDA libraries at the first real decode (seen on an H200 with CUDA
    13 only: 'Library libcublas.so.12 is not found or cannot be loaded'); auto must move to the
    CPU and finish, cuda must stop with a clear error before writing anything."""
    import ctranslate2

    from mckd.student.relabel import Labeler

    Real = ctranslate2.Translator

    class NoCublas:
        def __init__(self, path, device="cpu", **kw):
            self.device = device
            self.real = Real(path, device="cpu", **{k: v for k, v in kw.items()
                                                    if k != "compute_type"})

        def translate_batch(self, *a, **k):
            if self.device == "cuda":
                raise RuntimeError("Library libcublas.so.12 is not found or cannot be loaded")
            return self.real.translate_batch(*a, **k)

    monkeypatch.setattr(ctranslate2, "get_cuda_device_count", lambda: 1)
    monkeypatch.setattr(ctranslate2, "Translator", NoCublas)
    lab = Labeler(model_dir, device="auto", threads=1)
    assert lab.device == "cuda"
    out = lab.label([["a", "b", "c"], ["d", "e"]])
    assert [bool(r["target"]) for r in out] == [True, True]
    assert lab.device == "cpu" and lab.translator.device == "cpu"
    assert "libcublas.so.12" in capsys.readouterr().err
    with pytest.raises(MckdError, match=r"device cuda: CTranslate2 .* libcublas\.so\.12"):
        Labeler(model_dir, device="cuda", threads=1).label([["a", "b"]])


def test_parse_cli_reads_stdin_and_prints_trees(model_dir, monkeypatch, capsys):
    from mckd.cli import main

    lines = ["the gene binds a protein", "", "cells ( were ) observed"]
    monkeypatch.setattr("sys.stdin", io.StringIO("\n".join(lines) + "\n"))
    assert main(["parse", str(model_dir)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 3 and out[1] == ""  # one line out per line in (issue 37 item 4)
    assert parse_tree(out[0]).words == lines[0].split()
    assert parse_tree(out[2]).words == ["cells", "-LRB-", "were", "-RRB-", "observed"]


def test_parse_and_relabel_errors_are_clear(tmp_path, model_dir, monkeypatch, capsys):
    from mckd.cli import main
    from mckd.student.relabel import load_model_dir, relabel

    monkeypatch.setattr("sys.stdin", io.StringIO("\n  \n"))
    assert main(["parse", str(model_dir)]) == 2
    assert "empty input" in capsys.readouterr().err

    with pytest.raises(MckdError, match="no input records"):
        relabel(model_dir, [], tmp_path / "x.jsonl", progress=False)
    with pytest.raises(MckdError, match="needs non-empty 'words'"):
        relabel(model_dir, [{"id": "a", "words": []}], tmp_path / "x.jsonl", progress=False)

    bad = tmp_path / "bad"
    shutil.copytree(model_dir, bad)
    (bad / "model.bin").unlink()
    with pytest.raises(MckdError, match=r"missing model\.bin"):
        load_model_dir(bad)
    shutil.copy2(model_dir / "model.bin", bad / "model.bin")
    (bad / "mckd_model.json").write_text("{not json")
    with pytest.raises(MckdError, match="mckd_model.json: not valid JSON"):
        load_model_dir(bad)
    (bad / "mckd_model.json").write_text(json.dumps({"format": "yaml", "leaves": "slots",
                                                     "length_bound": {}}))
    with pytest.raises(MckdError, match="unknown output format 'yaml'"):
        load_model_dir(bad)
    shutil.copy2(model_dir / "mckd_model.json", bad / "mckd_model.json")
    (bad / "model.bin").write_bytes(b"garbage")
    monkeypatch.setattr("sys.stdin", io.StringIO("the gene\n"))
    assert main(["parse", str(bad)]) == 2
    assert "cannot load the model" in capsys.readouterr().err
    assert main(["parse", str(tmp_path / "nowhere")]) == 2
    assert "model folder not found" in capsys.readouterr().err


def test_training_errors_are_clear(tmp_path, records):
    from mckd.student.export import export_student
    from mckd.student.train import train_student

    with pytest.raises(MckdError, match="unknown format 'xml'"):
        train_student(records, tmp_path / "a", tiny_cfg(format="xml"))
    with pytest.raises(MckdError, match="no training records"):
        train_student([], tmp_path / "b", tiny_cfg())
    with pytest.raises(MckdError, match="record s1: no target"):
        train_student([records[0], {"id": "s1", "words": ["x"]}], tmp_path / "c", tiny_cfg())
    with pytest.raises(MckdError, match="unknown student arch"):
        train_student(records, tmp_path / "d", tiny_cfg(arch="t5-huge"))
    with pytest.raises(MckdError, match="not a complete trained student"):
        export_student(tmp_path / "d", tmp_path / "e")


def test_text_format_student_round_trip(tmp_path):
    """Generic source -> target strings: no tree repair, output passes through."""
    from mckd.student.export import export_student
    from mckd.student.relabel import relabel
    from mckd.student.train import train_student

    rng = random.Random(3)
    recs = []
    for i in range(32):
        words = [rng.choice(VOCAB) for _ in range(rng.randint(2, 5))]
        recs.append({"id": str(i), "source": " ".join(words),
                     "target": " ".join(w.upper() for w in words)})
    d = train_student(recs, tmp_path / "s", tiny_cfg(format="text", epochs=1, max_steps=2))
    export_student(d, tmp_path / "m", quantization="int8")
    relabel(tmp_path / "m", recs[:5], tmp_path / "o.jsonl", progress=False)
    rows = [json.loads(x) for x in (tmp_path / "o.jsonl").read_text().splitlines()]
    assert len(rows) == 5 and all(isinstance(r["target"], str) for r in rows)
    # text passes through unrepaired; only an output cut at the limit or empty is flagged
    for r in rows:
        assert r["target"] == " ".join(r["output"].split())
        assert r["repaired"] is (r["cut"] or not r["output"].strip()) and r["valid"] is not r["repaired"]


def test_a_loss_that_turns_nan_stops_training_with_a_clear_error(tmp_path, records,
                                                                 monkeypatch):
    """A diverged student must not be saved, exported and used as if it had trained."""
    import torch

    from mckd.student.train import train_student

    real = torch.nn.Module.__call__
    calls = {"n": 0}

    def nan_on_third(self, *a, **k):  # the third training batch (call 1 is the memory check)
        out = real(self, *a, **k)
        if self.__class__.__name__.endswith("ForConditionalGeneration") and "labels" in k:
            calls["n"] += 1
            if calls["n"] == 4:
                out.loss = out.loss * float("nan")
        return out

    monkeypatch.setattr(torch.nn.Module, "__call__", nan_on_third)
    d = tmp_path / "s"
    with pytest.raises(MckdError, match=r"training loss became nan at epoch 1, batch 3"):
        train_student(records, d, tiny_cfg())
    assert not (d / "model.safetensors").exists()


def test_train_command_line(tmp_path, records, capsys):
    from mckd.cli import main
    from mckd.jsonio import write_jsonl_atomic

    f = tmp_path / "t.jsonl"
    write_jsonl_atomic(f, records[:16])
    rc = main(["train", "--train", str(f), "--out", str(tmp_path / "s"), "--arch", "t5-micro",
               "--epochs", "1", "--seed", "3", "batch_size=8", "quiet=true", "vocab_size=200"])
    assert rc == 0
    meta = _meta(tmp_path / "s")
    assert meta["train_config"]["seed"] == 3 and meta["train_config"]["batch_size"] == 8
    assert main(["train", "--train", str(f), "--out", str(tmp_path / "x"), "bogus=1"]) == 2
    assert "override 'bogus=1'" in capsys.readouterr().err


LABELED = ["(S (NP (DT The) (NN gene)) (VP (VBZ binds) (NP (NN protein))) (. .))",
           "(NP (NP (JJ human) (NNS cells)) (PP (IN in) (NP (NN mouse))))",
           "(FRAG (NN Xpd) (NN TTD) (: :))"]


@pytest.mark.parametrize("leaves", ["indexed", "slots", "words"])
@pytest.mark.parametrize("fmt", ["unlabeled", "labeled", "skeleton"])
def test_tokenizer_round_trips_every_format(fmt, leaves):
    from mckd.student.tokenizer import build_tokenizer
    from mckd.trees import linearize

    recs = []
    for i, t in enumerate(LABELED * 2):
        tree = parse_tree(t)
        recs.append({"id": str(i), "words": tree.words, "target": linearize(tree, fmt)})
    a = build_tokenizer(recs, fmt, leaves, vocab_size=120, min_frequency=1)
    b = build_tokenizer(recs, fmt, leaves, vocab_size=120, min_frequency=1)
    assert a.tok.get_vocab() == b.tok.get_vocab()  # deterministic, unlike the HF trainer
    for r in recs:
        ids = a.encode_target(r["target"])
        assert ids[-1] == a.eos_id
        assert a.decode(a.ids_to_tokens(ids[:-1]), r["words"]) == r["target"]


def test_export_and_relabel_command_lines(tmp_path, student, capsys, monkeypatch):
    from mckd.cli import main
    from mckd.jsonio import write_jsonl_atomic

    m = tmp_path / "m"
    assert main(["export", str(student), "--out", str(m), "--quantization", "float32"]) == 0
    assert json.loads(capsys.readouterr().out)["parity"]["inputs"] >= 4
    inp = tmp_path / "in.jsonl"
    write_jsonl_atomic(inp, [{"id": r["id"], "words": r["words"]} for r in synthetic(5, seed=2)])
    out = tmp_path / "out.jsonl"
    assert main(["relabel", str(m), "--input", str(inp), "--out", str(out), "--no-progress"]) == 0
    assert json.loads(capsys.readouterr().out)["n"] == 5
    assert len(out.read_text().splitlines()) == 5
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    assert main(["relabel", str(m), "--input", str(empty), "--out", str(out)]) == 2
    assert "no input records" in capsys.readouterr().err
    assert main(["export", str(tmp_path / "nope"), "--out", str(tmp_path / "m2")]) == 2
    assert "student folder not found" in capsys.readouterr().err
    # --chunk bounds what one write holds: 5 inputs at --chunk 2 are decoded as 2 + 2 + 1
    import mckd.student.relabel as R

    real, sizes = R.Labeler.label, []

    def counted(self, words, ids=None):
        sizes.append(len(words))
        return real(self, words, ids)

    monkeypatch.setattr(R.Labeler, "label", counted)
    out3 = tmp_path / "out3.jsonl"
    assert main(["relabel", str(m), "--input", str(inp), "--out", str(out3), "--no-progress",
                 "--chunk", "2"]) == 0
    assert json.loads(capsys.readouterr().out)["n"] == 5 and sizes == [2, 2, 1]
    assert main(["relabel", str(m), "--input", str(inp), "--out", str(out3), "--chunk", "0"]) == 2
    assert "--chunk 0: expected at least 1" in capsys.readouterr().err


def test_chunks_start_small_double_to_the_cap_and_depend_on_counts_only():
    from mckd.student.relabel import chunk_sizes

    assert chunk_sizes(0) == []
    assert chunk_sizes(10) == [10]
    assert chunk_sizes(1000) == [16, 32, 64, 128, 256, 504]  # the tail (8) joins the last chunk
    assert chunk_sizes(3000)[:7] == [16, 32, 64, 128, 256, 512, 512]
    assert chunk_sizes(10, cap=4) == [4, 4, 2]
    for total in range(0, 2000, 37):
        sizes = chunk_sizes(total, cap=100)
        assert sum(sizes) == total and all(0 < n <= 150 for n in sizes)


def _tiny_parts(records, tmp_path):
    import torch

    from mckd.student.batches import prepare_records
    from mckd.student.train import _encode, _init_tokenizer, _model

    cfg = tiny_cfg().resolved()
    recs = prepare_records(records, cfg.format)
    tok = _init_tokenizer(cfg, recs, tmp_path)
    _, src, tgt, _ = _encode(cfg, tok, recs)
    torch.manual_seed(0)
    model = _model(cfg, tok, torch)
    model.train()  # dropout on: the check must not move the random state
    return torch, tok, src, tgt, [len(s) + len(t) for s, t in zip(src, tgt)], model


def test_largest_batch_check_leaves_weights_gradients_and_random_state_as_they_were(records, tmp_path):
    from mckd.student.train import check_largest_batch

    torch, tok, src, tgt, lengths, model = _tiny_parts(records, tmp_path)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    rng = torch.get_rng_state()
    n, longest = check_largest_batch(model, tok, src, tgt, lengths, 8, torch.device("cpu"), torch)
    assert n == 8 and longest == max(len(s) + len(t) for s, t in zip(src, tgt))
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert all(p.grad is None for p in model.parameters())
    assert torch.equal(torch.get_rng_state(), rng)


def test_a_largest_batch_that_does_not_fit_is_a_clear_error_before_training(records, tmp_path):
    from mckd.student.train import check_largest_batch

    torch, tok, src, tgt, lengths, model = _tiny_parts(records, tmp_path)

    def no_memory(*args, **kwargs):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    model.forward = no_memory
    with pytest.raises(MckdError, match=r"largest batch \(8 sentences .* lower student.batch_size "
                                        r"and raise student.grad_accum"):
        check_largest_batch(model, tok, src, tgt, lengths, 8, torch.device("cpu"), torch)

    def other_error(*args, **kwargs):  # not about memory: passed on as it is
        raise RuntimeError("shape mismatch")

    model.forward = other_error
    with pytest.raises(RuntimeError, match="shape mismatch"):
        check_largest_batch(model, tok, src, tgt, lengths, 8, torch.device("cpu"), torch)


def test_two_relabels_into_one_out_are_locked(tmp_path, model_dir, capsys):
    # issue 37 item 8: a second `mckd relabel` into the same --out resumed from the first's
    # partial file (correct by luck); now it fails at once naming the holder
    from conftest import held_lock
    from mckd.cli import main
    from mckd.locks import cache_lock

    inp = tmp_path / "in.jsonl"
    inp.write_text(json.dumps({"id": "a", "words": ["the", "gene"]}) + "\n")
    out = tmp_path / "out.jsonl"
    with held_lock(cache_lock(out), "relabel output", out) as p:
        assert main(["relabel", str(model_dir), "--input", str(inp), "--out", str(out),
                     "--no-progress"]) == 2
        err = capsys.readouterr().err
        assert f"relabel output {out} is in use by pid {p.pid}" in err, err
        assert not out.exists()
    assert main(["relabel", str(model_dir), "--input", str(inp), "--out", str(out),
                 "--no-progress"]) == 0
    assert out.exists()
