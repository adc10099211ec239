import json

import pytest

from mckd.cli import main
from mckd.data import assign_splits, import_treebank, parse_splits
from mckd.trees import split_treebank
from mckd.errors import MckdError


def test_split_treebank_multiline_and_recovery():
    data = (b"( (S (NP (DT a)) (VP (VB b))) )\n( (S (NP (DT c)\n( (S (NN d)) )\n(NN e))\n"
            b"  stray\xc2\xa0( (X (NN f)\n    (NN g)) )\n")
    chunks = split_treebank(data)
    assert [c[0] for c in chunks] == [1, 2, 3, 4, 4, 5, 5]  # the line each piece starts on
    assert chunks[0][1] == b"( (S (NP (DT a)) (VP (VB b))) )"
    assert chunks[1][1] == b"( (S (NP (DT c)\n"  # unclosed: cut where the next tree starts
    assert chunks[2][1] == b"( (S (NN d)) )"
    assert chunks[3][1] == b"(NN e)" and chunks[4][1] == b")"  # a stray ')' is its own piece
    assert chunks[5][1] == b"stray"  # text outside any tree too (U+00A0 separates)
    assert chunks[6][1] == b"( (X (NN f)\n    (NN g)) )"  # an indented '(' does not cut


def test_import_reports_text_outside_trees(tmp_path):
    (tmp_path / "a.mrg").write_text("( (S (NN a)) )\nnoise\n( (S (NN b)) )\n")
    m = import_treebank(str(tmp_path / "a.mrg"), tmp_path / "out", seed=0, splits="1,0,1")
    assert m["trees_read"] == 3 and m["trees_skipped"] == 1
    assert len(m["problems"]) == 1 and "a.mrg:2: tree 2" in m["problems"][0]


def test_parse_and_assign_splits():
    assert parse_splits(None) == {"train": 50.0, "dev": 10.0, "test": 40.0}
    assert parse_splits("train=80,test=20") == {"train": 80.0, "dev": 0.0, "test": 20.0}
    for bad in ("1,2", "a,b,c", "x=1", "-1,1,1"):
        with pytest.raises(MckdError):
            parse_splits(bad)
    a = assign_splits(100, parse_splits(None), seed=3)
    assert [len(a[k]) for k in ("train", "dev", "test")] == [50, 10, 40]
    assert sorted(a["train"] + a["dev"] + a["test"]) == list(range(100))
    assert a == assign_splits(100, parse_splits(None), seed=3)
    assert a != assign_splits(100, parse_splits(None), seed=4)


def test_import_reports_malformed_trees(tmp_path):
    tb = tmp_path / "tb"
    tb.mkdir()
    (tb / "a.mrg").write_text(
        "( (S (NP-SBJ-1 (DT The) (NN dog)) (VP (VBD barked) (NP (-NONE- *T*-1))) (. .)) )\n"
        "( (S (NP (DT a) (NN b)) )\n"          # unbalanced: cut at the next tree
        "( (FRAG (NN ok) (NN fine)) )\n"
        "( (S (-NONE- *)) )\n"                  # nothing left after deleting -NONE-
        "( (X (NN caf\xe9)) )\n", encoding="utf-8")
    (tb / "b.mrg").write_bytes(b"( (S (NN bad\xff)) )\n( (S (NN good) (NN one)) )\n")
    (tb / "c.mrg").write_text(" \n")  # empty: reported, not silently read as nothing
    out = tmp_path / "out"
    m = import_treebank(str(tb / "*.mrg"), out, seed=1, splits="1,0,1")
    assert m["trees_read"] == 7 and m["trees_skipped"] == 3
    assert any("a.mrg:2: tree 2" in p for p in m["problems"])
    assert any("b.mrg:1: tree 1" in p and "UTF-8" in p for p in m["problems"])
    assert any("c.mrg: empty file" in p for p in m["problems"])
    recs = [json.loads(x) for f in ("train", "dev", "test") for x in (out / f"{f}.jsonl").read_text().splitlines()]
    assert len(recs) == 4
    dog = next(r for r in recs if r["words"][:2] == ["The", "dog"])
    assert dog["words"] == ["The", "dog", "barked", "."]
    assert dog["gold"] == "(S (NP (DT The) (NN dog)) (VP (VBD barked)) (. .))"
    assert dog["targets"]["unlabeled"] == "( ( ( The ) ( dog ) ) ( barked ) ( . ) )"  # unary VP not re-bracketed
    assert set(dog["targets"]) == {"unlabeled", "labeled", "skeleton"}
    man = json.loads((out / "manifest.json").read_text())
    assert man["seed"] == 1 and len(man["source"]["files"]) == 3
    assert all(len(f["sha256"]) == 64 for f in man["source"]["files"])


def test_import_cli_and_errors(tmp_path, capsys):
    with pytest.raises(MckdError, match="no treebank files"):
        import_treebank(str(tmp_path / "nothing*.tree"), tmp_path / "o")
    assert main(["data", "import", str(tmp_path / "none*.mrg"), "--out", str(tmp_path / "o")]) == 2
    assert "no treebank files" in capsys.readouterr().err


def test_import_all_of_craft_is_deterministic(craft_dir, tmp_path):
    m = import_treebank(str(craft_dir / "*.tree"), tmp_path / "c", seed=0)
    assert m["trees_read"] == 30830
    assert m["trees_skipped"] == 0, m["problems"][:5]
    counts = {k: v["count"] for k, v in m["outputs"].items()}
    assert counts == {"train": 15415, "dev": 3083, "test": 12332}
    m2 = import_treebank(str(craft_dir / "*.tree"), tmp_path / "c2", seed=0)
    assert m2["outputs"] == m["outputs"]
