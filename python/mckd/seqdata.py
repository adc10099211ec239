"""Your own data for `mckd data import`: tag sequences in CoNLL columns, and JSONL records.

Both become dataset records with a `target`. Tag sequences run as `--format chunks` (their own
tags: the teacher and students decode under the BIO tag constraint, the table scores conlleval
chunk F1) or as `text`, any one-line output (unconstrained; exact match, token F1, chunk F1):

- **CoNLL columns** (`.conll`, `.bio`, `.iob`, `.tsv`, `.txt`): one token per line, columns
  separated by whitespace, the token in the first column and its tag in the last (or
  `--tag-column N`, counted from 0); a blank line between sentences; `-DOCSTART-` lines are
  skipped. A sentence becomes `{"words": [...], "tags": [...], "target": "w1 T1 w2 T2 ..."}`:
  the tags interleaved with the words, the form the paper's authors gave their T5 students.
- **JSONL** (`.jsonl`): one object a line, either `{"words": [...], "tags": [...]}` (a tag
  sequence, as above) or `{"source": "...", "target": "..."}` (any one-line output). An `id`
  is kept where given (else FILE#LINE).

A record that cannot be read (a token line without the tag column, words and tags of different
lengths, a line that is not JSON, an id given twice) is skipped and named by file and line, as
the treebank import does with a malformed tree.
"""

from __future__ import annotations

import json
from pathlib import Path

from .errors import MckdError

CONLL_SUFFIXES = (".conll", ".conllu", ".bio", ".iob", ".iob2", ".tsv", ".txt")
JSONL_SUFFIXES = (".jsonl", ".json")
TREEBANK_SUFFIXES = (".tree", ".mrg")
INPUT_FORMATS = ("auto", "treebank", "conll", "jsonl")


def input_format(path: Path, asked: str = "auto") -> str:
    """The reader for `path`: `asked`, or by its suffix when "auto"."""
    if asked != "auto":
        return asked
    suffix = path.suffix.lower()
    if suffix in TREEBANK_SUFFIXES:
        return "treebank"
    if suffix in JSONL_SUFFIXES:
        return "jsonl"
    if suffix in CONLL_SUFFIXES:
        return "conll"
    raise MckdError(f"{path}: cannot tell its format from the name; give --input-format "
                    f"({', '.join(INPUT_FORMATS[1:])})")


def interleave(words: list[str], tags: list[str]) -> str:
    """`w1 T1 w2 T2 ...`: the target of a tag sequence (mckd.metrics.text reads it back)."""
    return " ".join(f"{w} {t}" for w, t in zip(words, tags))


def tagged_record(rec_id: str, words: list[str], tags: list[str]) -> dict:
    target = interleave(words, tags)
    return {"id": rec_id, "words": words, "source": " ".join(words), "tags": tags,
            "target": target, "targets": {"text": target}}


def text_record(rec_id: str, source: str, target: str) -> dict:
    return {"id": rec_id, "words": source.split(), "source": " ".join(source.split()),
            "target": " ".join(target.split()), "targets": {"text": " ".join(target.split())}}


def _read_text(path: Path) -> str:
    """A file's UTF-8 text, or a one-line error naming the file (and the line of a bad byte)."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise MckdError(f"{path}: cannot read ({e.strerror})") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[:e.start].count(b"\n") + 1
        raise MckdError(f"{path}:{line}: not UTF-8 text") from None


def read_conll(path: Path, rel: str, tag_column: int = -1):
    """(records, problems) of one CoNLL column file."""
    text = _read_text(path)
    records, problems = [], []
    words: list[str] = []
    tags: list[str] = []
    start, bad = 0, None

    def flush(end_line: int) -> None:
        nonlocal words, tags, bad
        if words and bad is None:
            records.append(tagged_record(f"{rel}#{start}", words, tags))
        elif bad is not None:
            problems.append(bad)
        words, tags, bad = [], [], None

    for n, line in enumerate(text.splitlines(), 1):
        cols = line.split()
        if not cols:
            flush(n)
            continue
        if cols[0] == "-DOCSTART-":
            continue
        if not words and bad is None:
            start = n
        need = tag_column + 1 if tag_column >= 0 else 2
        if len(cols) < max(2, need):
            if bad is None:
                bad = (f"{path}:{n}: {len(cols)} column(s), expected a token and a tag "
                       f"(column {tag_column}); sentence from line {start} skipped")
            continue
        words.append(cols[0])
        tags.append(cols[tag_column])
    flush(0)
    return records, problems


def read_jsonl_records(path: Path, rel: str, seen: dict[str, str] | None = None):
    """(records, problems) of one JSONL file of tag sequences or source/target pairs. `seen`
    (id -> where first given) is shared across the files of one import."""
    records, problems = [], []
    seen = {} if seen is None else seen
    lines = _read_text(path).splitlines()
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = f"{path}:{n}"
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            problems.append(f"{where}: not JSON ({e.msg})")
            continue
        if not isinstance(obj, dict):
            problems.append(f"{where}: expected an object")
            continue
        rec_id = str(obj.get("id", f"{rel}#{n}"))
        if rec_id in seen:
            problems.append(f"{where}: id {rec_id!r} given twice (first at {seen[rec_id]})")
            continue
        if "tags" in obj:
            words, tags = obj.get("words"), obj.get("tags")
            if not (_strings(words) and _strings(tags)):
                problems.append(f"{where}: 'words' and 'tags' must be non-empty lists of "
                                "strings without spaces")
            elif len(words) != len(tags):
                problems.append(f"{where}: {len(words)} words but {len(tags)} tags")
            else:
                records.append(tagged_record(rec_id, words, tags))
                seen[rec_id] = where
        elif "source" in obj and "target" in obj:
            src, tgt = obj["source"], obj["target"]
            if not (isinstance(src, str) and src.strip() and isinstance(tgt, str)
                    and tgt.strip() and "\n" not in tgt):
                problems.append(f"{where}: 'source' and 'target' must be non-empty strings "
                                "('target' on one line)")
            else:
                records.append(text_record(rec_id, src, tgt))
                seen[rec_id] = where
        else:
            problems.append(f"{where}: expected 'words' and 'tags', or 'source' and 'target' "
                            f"(got {', '.join(sorted(obj)) or 'no keys'})")
    return records, problems


def _strings(x) -> bool:
    return (isinstance(x, list) and bool(x)
            and all(isinstance(s, str) and s and not any(c.isspace() for c in s) for s in x))
