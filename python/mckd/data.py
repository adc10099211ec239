"""Data import: read CRAFT / PTB treebanks (or tag sequences and JSONL records, mckd.seqdata)
into deterministic train/dev/test JSONL splits.

Each record carries the source words, the cleaned gold tree and every target linearization, so
later steps never re-read the treebank. Malformed trees are reported (file, line, tree number)
and skipped with a count; nothing is dropped silently.
"""

from __future__ import annotations

import glob as globmod
import os
import random
from dataclasses import dataclass, field
from pathlib import Path

from . import __version__
from .errors import MckdError
from . import formats
from .formats import TREE_FORMATS
from .jsonio import (
    iter_jsonl_lines,
    read_jsonl,
    sha256_file,
    write_json_atomic,
    write_jsonl_atomic,
)

DEFAULT_SPLITS = {"train": 50.0, "dev": 10.0, "test": 40.0}  # the paper's CRAFT split
SPLIT_NAMES = ("train", "dev", "test")
RECORD_FIELDS = ("id", "source")



@dataclass
class ImportReport:
    files: list[dict] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    n_trees: int = 0
    n_skipped: int = 0


def read_treebank(paths: list[Path], root: Path | None = None, progress: bool = False,
                  input_format: str = "treebank", tag_column: int = -1):
    """Read and clean every tree (or, by `input_format`, every tag sequence or JSONL record:
    mckd.seqdata); returns (records, ImportReport). `progress`: a bar over the files when
    stderr is a terminal."""
    from . import seqdata
    from .progress import bar
    from .trees import split_treebank

    report = ImportReport()
    records: list[dict] = []
    seen: dict[str, str] = {}
    pbar = bar(len(paths), "import", "file", progress)
    for path in paths:
        if pbar is not None:
            pbar.update(1)
        rel = str(path.relative_to(root)) if root else path.name
        kind = seqdata.input_format(path, input_format)
        if kind != "treebank":
            recs, problems = (seqdata.read_conll(path, rel, tag_column) if kind == "conll"
                              else seqdata.read_jsonl_records(path, rel, seen))
            records += recs
            report.problems += problems
            report.n_trees += len(recs) + len(problems)
            report.n_skipped += len(problems)
            report.files.append({"path": rel, "sha256": sha256_file(path), "format": kind,
                                 "records": len(recs)})
            if not recs and not problems:
                report.problems.append(f"{path}: empty file, no records")
            continue
        try:
            data = path.read_bytes()
        except OSError as e:
            raise MckdError(f"{path}: cannot read ({e.strerror})") from None
        n_file = 0
        for num, (line, chunk) in enumerate(split_treebank(data), 1):
            report.n_trees += 1
            where = f"{path}:{line}: tree {num}"
            try:
                rec = _record(chunk, f"{rel}#{num}")
            except (MckdError, ValueError) as e:  # one bad tree is reported, never fatal
                report.problems.append(f"{where}: {e}")
                report.n_skipped += 1
                continue
            n_file += 1
            records.append(rec)
        if not data.strip():  # a glob that also matched an empty file: say so, never silently
            report.problems.append(f"{path}: empty file, no trees")
        report.files.append({"path": rel, "sha256": sha256_file(path), "trees": n_file})
    if pbar is not None:
        pbar.close()
    return records, report


def _record(chunk: bytes, rec_id: str) -> dict:
    """One dataset record from the bytes of one tree; raises MckdError / ValueError if bad."""
    from .trees import FORMATS, clean, linearize, parse_tree

    try:
        text = chunk.decode("utf-8")
    except UnicodeDecodeError as e:
        raise MckdError(f"invalid UTF-8 at byte {e.start}") from None
    tree = clean(parse_tree(text))
    words = list(tree.words)
    if not words:
        raise MckdError("no words left after deleting -NONE-")
    # Every format is built here, so a tree one format cannot express (e.g. the skeleton of a
    # tree without POS tags) is reported and skipped instead of aborting the whole import.
    return {"id": rec_id, "words": words, "source": " ".join(words), "gold": tree.to_string(),
            "targets": {fmt: linearize(tree, fmt) for fmt in FORMATS}}


def parse_splits(spec: str | None) -> dict[str, float]:
    """'50,10,40' or 'train=50,dev=10,test=40' -> {train: 50, dev: 10, test: 40}."""
    if not spec:
        return dict(DEFAULT_SPLITS)
    parts = [p.strip() for p in spec.split(",") if p.strip()]
    out: dict[str, float] = {}
    try:
        if all("=" in p for p in parts):
            for p in parts:
                k, v = p.split("=", 1)
                if k not in SPLIT_NAMES:
                    raise MckdError(f"--splits: unknown split {k!r} (use {', '.join(SPLIT_NAMES)})")
                out[k] = float(v)
        elif len(parts) == 3:
            out = dict(zip(SPLIT_NAMES, map(float, parts)))
        else:
            raise MckdError(f"--splits: expected three numbers like 50,10,40, got {spec!r}")
    except ValueError:
        raise MckdError(f"--splits: not a number in {spec!r}") from None
    if any(v < 0 for v in out.values()) or sum(out.values()) <= 0:
        raise MckdError(f"--splits: proportions must be non-negative with a positive sum: {spec!r}")
    return {k: out.get(k, 0.0) for k in SPLIT_NAMES}


def assign_splits(n: int, splits: dict[str, float], seed: int) -> dict[str, list[int]]:
    """Shuffle indices 0..n-1 with `seed` and cut them by the split proportions."""
    order = list(range(n))
    random.Random(seed).shuffle(order)
    total = sum(splits.values())
    out: dict[str, list[int]] = {}
    start = 0
    for i, name in enumerate(SPLIT_NAMES):
        end = n if i == len(SPLIT_NAMES) - 1 else start + round(n * splits[name] / total)
        out[name] = sorted(order[start:end])
        start = end
    return out


def expand_inputs(pattern: str) -> list[Path]:
    """A glob, a directory (all *.tree / *.mrg in it) or a single file -> sorted paths."""
    p = Path(pattern)
    if p.is_dir():
        paths = sorted([*p.glob("*.tree"), *p.glob("*.mrg")])
    else:
        paths = sorted(Path(x) for x in globmod.glob(os.path.expanduser(pattern), recursive=True))
        paths = [x for x in paths if x.is_file()]
    if not paths:
        raise MckdError(f"no input files match {pattern!r}")
    return paths


def import_treebank(pattern: str, out_dir: str | os.PathLike, *, seed: int = 0,
                    splits: str | dict | None = None, limit: int | None = None,
                    progress: bool = False, input_format: str = "auto",
                    tag_column: int = -1) -> dict:
    """Import a treebank (or tag sequences in CoNLL columns, or JSONL records: mckd.seqdata)
    into OUT_DIR/{train,dev,test}.jsonl + manifest.json; returns the manifest."""
    from .seqdata import INPUT_FORMATS

    if input_format not in INPUT_FORMATS:
        raise MckdError(f"--input-format {input_format!r}: expected one of "
                        f"{', '.join(INPUT_FORMATS)}")
    out = Path(out_dir)
    _check_import_out(out)
    paths = expand_inputs(pattern)
    root = Path(os.path.commonpath([str(x.parent) for x in paths]))
    split_props = splits if isinstance(splits, dict) else parse_splits(splits)
    records, report = read_treebank(paths, root, progress, input_format, tag_column)
    if limit is not None:
        records = records[:limit]
    if not records:
        raise MckdError(f"{pattern}: no readable records ({report.n_skipped} malformed)")
    parts = assign_splits(len(records), split_props, seed)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:  # e.g. a parent of --out is a file
        raise MckdError(f"--out {out}: cannot create the folder ({e.strerror})") from None
    outputs = {}
    for name, idx in parts.items():
        f = out / f"{name}.jsonl"
        write_jsonl_atomic(f, (records[i] for i in idx))
        outputs[name] = {"file": f.name, "count": len(idx), "sha256": sha256_file(f)}
    manifest = {
        "mckd_version": __version__,
        "source": {"pattern": pattern, "root": str(root.resolve()), "files": report.files,
                   **({"input_format": input_format} if input_format != "auto" else {}),
                   **({"tag_column": tag_column} if tag_column != -1 else {})},
        "seed": seed,
        "splits": split_props,
        "limit": limit,
        "trees_read": report.n_trees,
        "trees_skipped": report.n_skipped,
        "problems": report.problems,
        "outputs": outputs,
    }
    write_json_atomic(out / "manifest.json", manifest)
    return manifest


def _check_import_out(out: Path) -> None:
    """Refuse an --out that is a file or a distill run directory (its manifest would be lost)."""
    from .folders import is_run_dir

    if out.exists() and not out.is_dir():
        raise MckdError(f"--out {out}: exists and is not a directory; choose a folder path")
    if out.is_dir() and is_run_dir(out):
        raise MckdError(f"--out {out}: is an mckd run directory; import into another folder")


def load_split(data_dir: str | os.PathLike, name: str) -> list[dict]:
    """Read one split of an imported data dir (or any JSONL with id and source)."""
    d = Path(data_dir)
    f = d / f"{name}.jsonl"
    if not f.exists():
        raise MckdError(f"{d}: no {name}.jsonl (run `mckd data import` to create it)")
    return read_jsonl(f, required=RECORD_FIELDS)



def check_data_dir(data_dir: str | os.PathLike, fmt: str, labeled: int = 1) -> dict[str, int]:
    """Check, before a run's first step, that DATA_DIR holds what the run and its evaluation need.

    train.jsonl: readable records with a `fmt` target each (any may become a demonstration),
    at least `labeled` + 2 of them (demonstrations plus a pool of two). test.jsonl: readable
    records with gold: a parsable `gold` tree and `words` for tree formats, a target for text.
    Errors name file and line. Returns the record count of each split.
    """
    d = Path(data_dir)
    if not d.is_dir():
        raise MckdError(f"--data {d}: no such folder (create it with `mckd data import`)")
    counts = {}
    for name, check in (("train", _check_train_record), ("test", _check_test_record)):
        f = d / f"{name}.jsonl"
        if not f.is_file():
            raise MckdError(f"{d}: no {name}.jsonl (run `mckd data import` to create it)")
        seen: dict[str, int] = {}
        for line, rec in iter_jsonl_lines(f, required=RECORD_FIELDS):
            where = f"{f}:{line}: record {rec['id']!r}"
            if rec["id"] in seen:
                raise MckdError(f"{where}: duplicate id (first at line {seen[rec['id']]})")
            seen[rec["id"]] = line
            check(rec, fmt, where)
        counts[name] = len(seen)
    if counts["train"] < labeled + 2:
        raise MckdError(f"{d / 'train.jsonl'}: {counts['train']} records; data.labeled={labeled} "
                        f"needs at least {labeled + 2} ({labeled} demonstrations and a pool of 2)")
    if counts["test"] == 0:
        raise MckdError(f"{d / 'test.jsonl'}: no records to evaluate on")
    return counts


def _target(rec: dict, fmt: str, where: str):
    """The record's target in `fmt` (tag formats: derived from its gold tree where it has one),
    or None."""
    if not isinstance(rec.get("targets", {}), dict):
        raise MckdError(f"{where}: `targets` is not an object")
    try:
        from .chunks import gold_target

        t = gold_target(rec, fmt)
    except (MckdError, ValueError) as e:
        raise MckdError(f"{where}: gold tree does not parse ({e})") from None
    if t is not None and not isinstance(t, str):
        raise MckdError(f"{where}: the {fmt!r} target is {type(t).__name__}, not a string")
    if t is not None and formats.get(fmt).tags:
        from .chunks import is_tag

        toks = t.split()
        words = rec.get("words") or str(rec.get("source", "")).split()
        if toks[0::2] != list(words) or len(toks) != 2 * len(words):
            raise MckdError(f"{where}: the {fmt!r} target is not the words each followed by its "
                            "tag (w1 t1 w2 t2 ...)")
        bad = [x for x in toks[1::2] if not is_tag(x)]
        if bad:
            raise MckdError(f"{where}: {bad[0]!r} is not a BIO tag (O, B-TYPE, I-TYPE)")
    return t


def _check_train_record(rec: dict, fmt: str, where: str) -> None:
    if _target(rec, fmt, where) is None:
        raise MckdError(f"{where}: no {fmt!r} target (targets.{fmt} or target), which a gold "
                        "demonstration needs; re-import the data or choose another --format")


def _check_test_record(rec: dict, fmt: str, where: str) -> None:
    if fmt not in TREE_FORMATS:
        if _target(rec, fmt, where) is None:
            raise MckdError(f"{where}: no gold text (target or targets.{fmt}), which evaluation "
                            "needs")
        return
    from .trees import parse_tree

    gold = rec.get("gold")
    if not isinstance(gold, str) or not gold.strip():
        raise MckdError(f"{where}: no gold tree (field `gold`), which evaluation needs")
    if not isinstance(rec.get("words"), list) or not rec["words"]:
        raise MckdError(f"{where}: no `words` list, which evaluation needs")
    try:
        tree = parse_tree(gold)
    except (MckdError, ValueError) as e:
        raise MckdError(f"{where}: gold tree does not parse ({e})") from None
    if list(tree.words) != rec["words"]:
        raise MckdError(f"{where}: gold tree words differ from `words`")
