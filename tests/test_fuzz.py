"""A short, bounded coverage-guided fuzz of the tree reader, delinearize and paper_f1 (atheris).

The test runs this file as a script in a subprocess (libFuzzer can only be stopped by ending the
process) for at most FUZZ_SECONDS; it passes when the fuzzer exits 0: no native crash, no
exception other than MckdError / TreeError, and every invariant below held. The C++ core is not
compiled with coverage instrumentation here (that needs clang), so the harness turns what the
core reports (error kinds, repair kinds) into Python branches that atheris does see.

Run longer by hand: python tests/test_fuzz.py -max_total_time=600 /tmp/mckd-fuzz-corpus
"""

from __future__ import annotations

import os
import subprocess
import sys

FUZZ_SECONDS = int(os.environ.get("MCKD_FUZZ_SECONDS", "10"))
SEEDS = [
    b"\x00(S (NP (DT The) (NN dog)) (VP (VBD barked)) (. .))",
    b"\x01( (S (NP-SBJ-1 (NN a))\n  (VP (VBD b) (NP (-NONE- *T*-1)))) )\n(S (NN c))\n",
    b"\x02\x00The dog barked|( ( ( The ) ( dog ) ) ( barked ) )",
    b"\x02\x01The dog barked|(S (NP (DT The) (NN dog)) (VP (VBD barked))",
    b"\x02\x02The dog barked|(S (NP DT NN) (VP VBD (DT)))",
    b"\x03( ( ( a ) ( b ) ) ( c ) ) )",
]
FORMATS = ("unlabeled", "labeled", "skeleton")
GOLD = "(S (NP (DT a) (NN b)) (, ,) (VP (VBD c)))"


def _kind(message: str) -> str:
    """The part of an error message that says what is wrong (positions and text cut off)."""
    tail = message.rsplit(": ", 1)[-1]
    return " ".join(w for w in tail.split()[:3] if not any(c.isdigit() for c in w))


def _note(kind: str) -> int:
    # One branch per behaviour the C++ core reports, so atheris keeps inputs reaching new ones.
    if kind.startswith("added"):
        return 1
    if kind.startswith("removed"):
        return 2
    if kind.startswith("dropped"):
        return 3
    if kind.startswith("joined"):
        return 4
    if kind.startswith("split"):
        return 5
    if kind.startswith("attached"):
        return 6
    if kind.startswith("read"):
        return 7
    if "differ" in kind:
        return 8
    if "flat tree" in kind:
        return 9
    if "missing" in kind:
        return 10
    if "mixed" in kind:
        return 11
    if "empty" in kind:
        return 12
    if "control" in kind:
        return 13
    if "UTF-8" in kind:
        return 14
    if "after the end" in kind or "stray" in kind:
        return 15
    if "no words" in kind:
        return 16
    return 0


def one_input(data: bytes) -> None:
    """Fuzz target: the first byte picks the API, the rest is its input."""
    import atheris

    from mckd import trees as T
    from mckd.errors import MckdError
    from mckd.metrics.paper import paper_f1

    if not data:
        return
    mode, rest = data[0] % 4, data[1:]
    try:
        if mode == 0:
            t = T.parse_tree(rest.decode("utf-8", "surrogateescape"), "fuzz")
            t.check()
            assert T.parse_tree(t.to_string()) == t
            c = T.clean(t)
            c.check()
            for fmt in FORMATS:
                if c.n_words:
                    lin = T.linearize(c, fmt)  # skeleton: TreeError where a word has no tag
                    assert T.delinearize(lin, c.words, fmt).as_tree().words == c.words
        elif mode == 1:
            for t in T.parse_treebank_text(rest, "fuzz.mrg"):
                t.check()
                T.clean(t).check()
        elif mode == 2:
            fdp = atheris.FuzzedDataProvider(rest)
            fmt = FORMATS[fdp.ConsumeIntInRange(0, 2)]
            text = fdp.ConsumeUnicodeNoSurrogates(len(rest))
            head, _, pred = text.partition("|")
            # Mostly usable words, so that inputs get past the check of `words` into the repair.
            words = [w for w in head.split() if w.isprintable() and not set(w) & set("()")]
            words = words or ["w"]
            r = T.delinearize(pred, words, fmt)
            tree = r.as_tree()
            tree.check()
            assert tree.words == words, (tree.words, words)
            assert r.repaired == bool(r.problems)
            for p in r.problems:
                _note(p)
        else:
            r = paper_f1([GOLD], [rest.decode("utf-8", "replace")])
            assert 0.0 <= r["f1"] <= 100.0 and r["n"] == 1
    except (MckdError, T.TreeError) as e:
        _note(_kind(str(e)))


def _fuzz(argv: list[str]) -> None:
    import atheris

    with atheris.instrument_imports(include=["mckd"]):
        import mckd.metrics.paper  # noqa: F401
        import mckd.trees  # noqa: F401
    atheris.instrument_func(_note)
    atheris.instrument_func(_kind)
    corpus = [a for a in argv[1:] if not a.startswith("-")]
    for d in corpus:
        os.makedirs(d, exist_ok=True)
        for i, seed in enumerate(SEEDS):
            with open(os.path.join(d, f"seed{i}"), "wb") as f:
                f.write(seed)
    atheris.Setup(argv, atheris.instrument_func(one_input))
    atheris.Fuzz()


if __name__ == "__main__":
    _fuzz(sys.argv)
else:
    import pytest

    def test_fuzz_reader_and_repair(tmp_path):
        import resource

        pytest.importorskip("atheris")
        # Linux keeps a process's peak-RSS mark across fork and exec, and libFuzzer checks that
        # mark: the child of a pytest process that already peaked at 2.8 GB (a test that
        # fine-tunes a 135M model) would "run out of memory" at startup. Budget: 2 GB above it.
        inherited_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
        cmd = [sys.executable, __file__, f"-max_total_time={FUZZ_SECONDS}", "-runs=2000000",
               f"-rss_limit_mb={inherited_mb + 2048}", "-max_len=4096", "-timeout=20",
               f"-artifact_prefix={tmp_path}/", str(tmp_path / "corpus")]
        out = subprocess.run(cmd, capture_output=True, text=True, errors="replace",
                             timeout=FUZZ_SECONDS + 120, cwd=tmp_path)
        log = out.stdout + out.stderr
        assert out.returncode == 0, \
            f"fuzzer found a failure (exit {out.returncode}):\n{log[-4000:]}"
        assert "Done" in log, log[-2000:]
        assert not list(tmp_path.glob("crash-*"))
