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
    with pytest.raises(MckdError, match="no input files match"):
        import_treebank(str(tmp_path / "nothing*.tree"), tmp_path / "o")
    assert main(["data", "import", str(tmp_path / "none*.mrg"), "--out", str(tmp_path / "o")]) == 2
    assert "no input files match" in capsys.readouterr().err


def test_import_all_of_craft_is_deterministic(craft_dir, tmp_path):
    m = import_treebank(str(craft_dir / "*.tree"), tmp_path / "c", seed=0)
    assert m["trees_read"] == 30830
    assert m["trees_skipped"] == 0, m["problems"][:5]
    counts = {k: v["count"] for k, v in m["outputs"].items()}
    assert counts == {"train": 15415, "dev": 3083, "test": 12332}
    m2 = import_treebank(str(craft_dir / "*.tree"), tmp_path / "c2", seed=0)
    assert m2["outputs"] == m["outputs"]


def test_import_conll_columns_and_jsonl_records_name_bad_lines(tmp_path, capsys):
    # issue 35 item 1: `mckd data import` read treebanks only
    import json

    from mckd.cli import main
    from mckd.data import check_data_dir
    from mckd.metrics.text import chunks

    src = tmp_path / "src"
    src.mkdir()
    (src / "a.conll").write_text(
        "-DOCSTART- -X- O O\n\nThe DT B-NP\ngene NN I-NP\nbinds VBZ B-VP\n\n"
        "Mice NNS B-NP\nbad\nrun VBP B-VP\n\nCells NNS B-NP\ngrow VBP B-VP\n", encoding="utf-8")
    (src / "b.jsonl").write_text(
        '{"id": "j1", "words": ["a", "b"], "tags": ["B-X", "I-X"]}\n'
        '{"source": "x  y", "target": "X Y"}\n'
        '{"words": ["a"], "tags": ["O", "O"]}\n'
        'not json\n'
        '{"id": "j1", "words": ["c"], "tags": ["O"]}\n', encoding="utf-8")
    out = tmp_path / "out"
    assert main(["data", "import", str(src / "*"), "--out", str(out), "--splits", "50,0,50"]) == 0
    cap = capsys.readouterr()
    assert "imported 4 records from 2 files (4 malformed, skipped)" in cap.out
    for where in ("a.conll:8: 1 column(s)", "b.jsonl:3: 1 words but 2 tags",
                  "b.jsonl:4: not JSON", "b.jsonl:5: id 'j1' given twice (first at"):
        assert where in cap.err, (where, cap.err)
    recs = {r["id"]: r for f in ("train", "test") for r in map(json.loads, (out / f"{f}.jsonl")
                                                                .read_text().splitlines())}
    assert set(recs) == {"a.conll#3", "a.conll#11", "j1", "b.jsonl#2"}
    r = recs["a.conll#3"]
    assert r["words"] == ["The", "gene", "binds"] and r["tags"] == ["B-NP", "I-NP", "B-VP"]
    assert r["target"] == r["targets"]["text"] == "The B-NP gene I-NP binds B-VP"
    assert chunks(r["target"].split()[1::2]) == {(0, 2, "NP"), (2, 3, "VP")}
    assert recs["b.jsonl#2"]["source"] == "x y" and recs["b.jsonl#2"]["target"] == "X Y"
    # what the text format needs, a distill run can start from it
    check_data_dir(out, "text", labeled=0)
    # a tag column other than the last; a file whose kind the name does not tell
    (src / "c.data").write_text("The B-NP DT\ngene I-NP NN\n", encoding="utf-8")
    assert main(["data", "import", str(src / "c.data"), "--out", str(tmp_path / "o2")]) == 2
    assert "--input-format" in capsys.readouterr().err
    assert main(["data", "import", str(src / "c.data"), "--out", str(tmp_path / "o2"),
                 "--input-format", "conll", "--tag-column", "1", "--splits", "100,0,0"]) == 0
    r = json.loads((tmp_path / "o2" / "train.jsonl").read_text())
    assert r["target"] == "The B-NP gene I-NP"


def test_import_refuses_non_utf8_tag_files_by_line(tmp_path, capsys):
    from mckd.cli import main

    for name in ("bad.conll", "bad.jsonl"):
        f = tmp_path / name
        f.write_bytes(b"The DT B-NP\n" if name.endswith("conll") else b'{"source": "a", "target": "b"}\n')
        f.write_bytes(f.read_bytes() + b"caf\xe9 NN I-NP\n")
        out = tmp_path / ("o_" + name)
        assert main(["data", "import", str(f), "--out", str(out)]) == 2
        assert f"{name}:2: not UTF-8 text" in capsys.readouterr().err
        assert not out.exists()  # nothing half-written
