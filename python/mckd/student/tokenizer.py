"""Student tokenizers: how sources and targets become token ids and back (torch-free).

Two kinds, both stored as a standard `tokenizer.json` (the `tokenizers` library) plus a small
`mckd_tokenizer.json` that says how to read it:

* ``mckd`` — built from the training data for from-scratch students. A WordPiece vocabulary of
  the source words (and target words for text tasks) plus every structural unit of the output
  format as ONE token: ``(``, ``)``, ``(NP``, ``(DT``, bare POS tags, and ``<w>``. Trees are
  split into units first (``(S (NP (DT The) ...`` → ``(S`` ``(NP`` ``(DT`` ``The`` ``)`` …), so a
  label never shares a token with a word.

  With ``leaves="slots"`` (the default for from-scratch tree students) the target holds no words
  at all: a leaf ``( word )`` of the unlabeled format becomes ``<w>`` and a preterminal
  ``(DT word)`` of the labeled format becomes the bare tag ``DT`` (the skeleton format already
  looks like this). Decoding puts the input words back into the leaves in order, so words are
  always copied exactly from the source and a tiny model spends no capacity on spelling them.

  With ``leaves="indexed"`` (the default for from-scratch tree students) the source carries a
  position marker before every word (``<w1> The <w2> dog``) and each target leaf is that
  marker (``( <w1> <w2> )``; labeled formats put it before the tag: ``<w1> DT``). A T5 has no
  absolute positions, so without markers a small student must count leaves to know which word
  comes next; with them it reads the previous marker and attends to the next one in the
  source (measured on CRAFT: slot students stalled at the flat-tree score, see train.py).

* ``hf`` — the tokenizer that came with a pretrained checkpoint (``--init``): sources and
  targets are encoded as plain strings, outputs decoded with ``skip_special_tokens``.

  Decoder-only (causal LM) students (`mckd.student.causal`) use an ``hf`` tokenizer with a
  ``causal`` record in mckd_tokenizer.json: the source is a prompt (the words, then a fixed
  suffix, with whatever specials the model's own template adds), the target follows it after a
  space and ends with the model's EOS token (named there, as are the pad and unk tokens).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from collections.abc import Iterable

from ..errors import MckdError
from .. import formats
from ..formats import FORMATS
from ..trees import tree_units

LEAVES = ("slots", "words", "indexed", "bare")
MAX_INDEX = 128  # words past this share the last marker (the tree repair aligns them)

PAD, EOS, UNK, BOS, SLOT = "<pad>", "</s>", "<unk>", "<s>", "<w>"
SPECIALS = [PAD, EOS, UNK, BOS, SLOT]  # ids 0..4 in every mckd tokenizer

# Penn Treebank phrase labels and POS tags (plus CRAFT's extra roots): always in the vocabulary
# so a student can emit a label its training half happened not to contain.
PTB_PHRASES = ("ADJP ADVP CONJP FRAG INTJ LST NAC NP NX PP PRN PRT QP RRC S SBAR SBARQ SINV SQ "
               "UCP VP WHADJP WHADVP WHNP WHPP X TOP TITLE HEADING META").split()
PTB_TAGS = ("CC CD DT EX FW IN JJ JJR JJS LS MD NN NNS NNP NNPS PDT POS PRP PRP$ RB RBR RBS RP "
            "SYM TO UH VB VBD VBG VBN VBP VBZ WDT WP WP$ WRB -LRB- -RRB- -NONE- , . : `` '' # $ "
            "HYPH AFX NFP ADD XX").split()



def _is_open(u: str) -> bool:
    return u.startswith("(")


def index_token(k: int) -> str:
    """Position marker of the k-th word (0-based)."""
    return f"<w{min(k, MAX_INDEX - 1) + 1}>"


def is_index(u: str) -> bool:
    return u.startswith("<w") and u.endswith(">") and u[2:-1].isdigit()


def index_units(units: list[str], fmt: str) -> list[str]:
    """Compact units (`compact_units`) with each leaf replaced by / prefixed with its marker."""
    out, k = [], 0
    for u in units:
        if _is_open(u) or u == ")":
            out.append(u)
            continue
        if fmt == "unlabeled":
            out.append(index_token(k))
        else:
            out += [index_token(k), u]
        k += 1
    return out


def compact_units(units: list[str], fmt: str) -> list[str]:
    """Drop the words of a tree: ``( w )`` → ``<w>`` (unlabeled), ``(TAG w)`` → ``TAG``.

    A preterminal over k tokens (CRAFT has a few ``(NN Xpd TTD)``) yields k leaf symbols so that
    the leaf count stays equal to the word count.
    """
    out: list[str] = []
    i, n = 0, len(units)
    while i < n:
        u = units[i]
        if _is_open(u):
            j = i + 1
            while j < n and not _is_open(units[j]) and units[j] != ")":
                j += 1
            if j > i + 1 and j < n and units[j] == ")":  # preterminal: opener, words, ')'
                k = j - i - 1
                if fmt == "unlabeled":
                    out.extend([SLOT] * k)
                else:
                    out.extend([u[1:] or "X"] * k)
                i = j + 1
                continue
        out.append(u)
        i += 1
    return out


def bare_units(units: list[str]) -> list[str]:
    """Unlabeled tree units without the words' own brackets: ``( ( The ) ( dog ) )`` becomes
    ``( The dog )``. The root always stays a bracket (a one-word tree ``( w )`` too, whose bare
    form therefore reads back as ``( ( w ) )``, the form the tree constraint writes), and so
    does a leaf bracket over several tokens (CRAFT's ``(NN Xpd TTD)``)."""
    out: list[str] = []
    i, n, depth = 0, len(units), 0
    while i < n:
        u = units[i]
        if depth and u == "(" and i + 2 < n and units[i + 2] == ")" \
                and not _is_open(units[i + 1]) and units[i + 1] != ")":
            out.append(units[i + 1])
            i += 3
            continue
        depth += 1 if _is_open(u) else -1 if u == ")" else 0
        out.append(u)
        i += 1
    return out


def wrap_bare(units: list[str]) -> list[str]:
    """Inverse of `bare_units`: every bare word gets its own bracket back."""
    out: list[str] = []
    for u in units:
        out += [u] if (_is_open(u) or u == ")") else ["(", u, ")"]
    return out


def fill_slots(units: list[str], words: list[str], fmt: str) -> str:
    """Inverse of `compact_units`: put the input words back into the leaves, in order.

    Leaves beyond the word count keep a placeholder and missing leaves are left to the tree
    repair (`mckd.trees.delinearize`), which aligns the leaves with the words.
    """
    out: list[str] = []
    k = 0
    for u in units:
        if _is_open(u) or u == ")":
            out.append(u)
            continue
        w = words[k] if k < len(words) else SLOT
        k += 1
        if fmt == "unlabeled":
            out.append(f"( {w} )")
        else:  # labeled notation; the leaf symbol is the POS tag
            tag = u if u != SLOT else "X"
            out.append(f"({tag} {w})")
    return _join(out)


def _join(units: list[str]) -> str:
    """Units back to one bracketed line: a space everywhere except before ')'."""
    s = " ".join(units)
    if s and not s.startswith("( "):
        s = s.replace(" )", ")")
    return s


def _plain(fmt: str) -> bool:
    """Targets of this format are plain token sequences (tags, text), not trees."""
    return not formats.get(fmt).tree


@dataclass
class StudentTokenizer:
    """A `tokenizers.Tokenizer` plus the rules that map this student's targets to units."""

    tok: object  # tokenizers.Tokenizer
    kind: str  # "mckd" | "hf"
    format: str
    leaves: str  # "slots" | "words" | "indexed" | "bare" (pretrained unlabeled students)
    # Causal-LM students only: {"prompt_suffix", "eos", "pad", "unk", "bos"} (token strings)
    causal: dict | None = None
    # Tag formats: the tags the student may write (those of its training targets), O first
    tags: list[str] | None = None

    # ------------------------------------------------------------------ special ids
    @property
    def eos_id(self) -> int:
        return self._special("eos")

    @property
    def pad_id(self) -> int:
        return self._special("pad")

    def _special(self, which: str) -> int:
        names = {"eos": [EOS], "pad": [PAD, "<|pad|>"]}[which]
        if self.causal and self.causal.get(which):
            names = [self.causal[which]]
        for n in names:
            i = self.tok.token_to_id(n)
            if i is not None:
                return i
        raise MckdError(f"tokenizer has no {which} token (looked for {names})")

    @property
    def vocab_size(self) -> int:
        return self.tok.get_vocab_size(with_added_tokens=True)

    # ------------------------------------------------------------------ encoding
    def target_text(self, target: str) -> str:
        """The string the model is trained to emit for a target in this student's format."""
        if _plain(self.format):
            return " ".join(target.split())
        units = tree_units(target)
        if self.leaves == "bare":
            units = bare_units(units)
        if self.leaves in ("slots", "indexed") and self.format != "skeleton":
            units = compact_units(units, self.format)  # skeleton leaves are tags already
        if self.leaves == "indexed":
            units = index_units(units, self.format)
        return " ".join(units) if self.kind == "mckd" else _join(units)

    def encode_source(self, words: list[str]) -> list[int]:
        """Token ids of a source sentence, ending with EOS (causal students: the prompt)."""
        if self.causal:
            return self._encode_prompt(words)
        if self.leaves == "indexed" and self.kind == "mckd":
            return self._encode(" ".join(f"{index_token(k)} {w}" for k, w in enumerate(words)))
        return self._encode(" ".join(words))

    def encode_target(self, target: str) -> list[int]:
        """Token ids of a target, ending with EOS."""
        if self.causal:  # continues the prompt: a space, the target, the model's EOS
            return self.tok.encode(" " + self.target_text(target),
                                   add_special_tokens=False).ids + [self.eos_id]
        return self._encode(self.target_text(target))

    def _encode_prompt(self, words: list[str]) -> list[int]:
        """Causal students: the model's own specials (e.g. BOS), the words, the fixed suffix."""
        ids = self.tok.encode(" ".join(words) + self.causal["prompt_suffix"]).ids
        while ids and ids[-1] == self.eos_id:  # a template that closes single sequences
            ids.pop()
        bos = self.causal.get("bos")
        if bos:
            b = self.tok.token_to_id(bos)
            if b is not None and (not ids or ids[0] != b):
                ids.insert(0, b)
        return ids

    def _encode(self, text: str) -> list[int]:
        if self.kind == "mckd":
            return self.tok.encode(text, add_special_tokens=False).ids + [self.eos_id]
        ids = self.tok.encode(text).ids  # the checkpoint's own template adds its specials
        if not ids or ids[-1] != self.eos_id:
            ids.append(self.eos_id)
        return ids

    def ids_to_tokens(self, ids: Iterable[int]) -> list[str]:
        return [self.tok.id_to_token(int(i)) or UNK for i in ids]

    def tokens_to_ids(self, tokens: Iterable[str]) -> list[int]:
        unk = self.tok.token_to_id(UNK)
        out = []
        for t in tokens:
            i = self.tok.token_to_id(t)
            out.append(unk if i is None else i)
        return out

    # ------------------------------------------------------------------ decoding
    def decode_ids(self, ids: Iterable[int], words: list[str]) -> str:
        """Generated ids (no EOS) of an ``hf``-kind student → text (before tree repair); ids
        the tokenizer does not know (padding rows of a larger embedding) are dropped."""
        n = self.tok.get_vocab_size(with_added_tokens=True)
        known = [int(i) for i in ids if 0 <= int(i) < n]
        if self.kind != "hf":
            return self.decode(self.ids_to_tokens(known), words)
        return self.from_notation(self.tok.decode(known, skip_special_tokens=True), words)

    def from_notation(self, text: str, words: list[str]) -> str:
        """What an ``hf``-kind student wrote, in the format's own notation: bare words get their
        brackets back (one to one, not a repair), slots get the input words."""
        if _plain(self.format) or self.leaves == "words":
            return " ".join(text.split())
        if self.leaves == "bare":
            return " ".join(wrap_bare(tree_units(text)))
        return fill_slots(tree_units(text), words, self.format)

    def decode(self, tokens: list[str], words: list[str]) -> str:
        """Generated tokens (no EOS) → a string in the format's notation (before tree repair)."""
        if self.kind == "hf":
            return self.from_notation(
                self.tok.decode(self.tokens_to_ids(tokens), skip_special_tokens=True), words)
        units: list[str] = []
        for t in tokens:
            if t in (PAD, EOS, BOS):
                continue
            if self.leaves == "indexed" and is_index(t):
                if self.format == "unlabeled":
                    units.append(SLOT)
                continue  # labeled formats: the tag that follows is the leaf
            if t.startswith("##") and units and not _is_open(units[-1]) and units[-1] != ")":
                units[-1] += t[2:]
            else:
                units.append(t[2:] if t.startswith("##") else t)
        if _plain(self.format):
            return " ".join(units)
        if self.leaves in ("slots", "indexed") and self.format != "skeleton":
            return fill_slots(units, words, self.format)
        return _join(units)

    # ------------------------------------------------------------------ persistence
    def save(self, out_dir: str | Path) -> None:
        """Write tokenizer.json (+ HF tokenizer_config.json) and mckd_tokenizer.json."""
        from ..jsonio import write_json_atomic, write_text_atomic

        d = Path(out_dir)
        d.mkdir(parents=True, exist_ok=True)
        write_text_atomic(d / "tokenizer.json", self.tok.to_str())
        meta = {"kind": self.kind, "format": self.format, "leaves": self.leaves}
        if self.causal:
            meta["causal"] = self.causal
        if self.tags:
            meta["tags"] = self.tags
        write_json_atomic(d / "mckd_tokenizer.json", meta)
        if self.causal:
            # What `transformers.AutoTokenizer` (and the CTranslate2 converter) need to load it.
            c = self.causal
            write_json_atomic(d / "tokenizer_config.json", {
                "tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": 1_000_000,
                "eos_token": c["eos"], "pad_token": c.get("pad") or c["eos"],
                "unk_token": c.get("unk") or c["eos"], "bos_token": c.get("bos") or c["eos"],
                "clean_up_tokenization_spaces": False})
        if self.kind == "mckd":
            # Lets `transformers.AutoTokenizer` (and the CTranslate2 converter) load the folder.
            write_json_atomic(d / "tokenizer_config.json", {
                "tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": 1_000_000,
                "pad_token": PAD, "eos_token": EOS, "unk_token": UNK, "bos_token": BOS,
                "clean_up_tokenization_spaces": False})
            write_json_atomic(d / "special_tokens_map.json",
                              {"pad_token": PAD, "eos_token": EOS, "unk_token": UNK, "bos_token": BOS})

    @classmethod
    def load(cls, model_dir: str | Path, format: str | None = None,
             leaves: str | None = None) -> StudentTokenizer:
        """Load from a student or exported model folder.

        A folder without mckd_tokenizer.json (a plain HF checkpoint) is read as kind "hf";
        then `format` is required and leaves are "words".
        """
        from tokenizers import Tokenizer

        d = Path(model_dir)
        tj = d / "tokenizer.json"
        if not tj.exists():
            raise MckdError(f"{d}: no tokenizer.json (need a fast tokenizer saved with the model)")
        try:
            tok = Tokenizer.from_file(str(tj))
        except Exception as e:  # noqa: BLE001 - tokenizers raises bare Exceptions
            raise MckdError(f"{tj}: cannot load tokenizer ({e})") from None
        meta_f = d / "mckd_tokenizer.json"
        if meta_f.exists():
            from ..jsonio import read_json

            meta = read_json(meta_f)
            kind = meta.get("kind")
            causal = meta.get("causal")
            fmt = format or meta.get("format")
            lv = leaves or meta.get("leaves", "words")
            tags = meta.get("tags")
            if kind not in ("mckd", "hf"):
                raise MckdError(f"{meta_f}: unknown tokenizer kind {kind!r}")
        else:
            kind, fmt, lv, causal, tags = "hf", format, leaves or "words", None, None
        if fmt not in FORMATS:
            raise MckdError(f"{d}: unknown output format {fmt!r} (expected one of {', '.join(FORMATS)})")
        if lv not in LEAVES:
            raise MckdError(f"{d}: unknown leaves mode {lv!r} (expected {', '.join(LEAVES)})")
        if kind == "mckd" and meta.get("format") != fmt and lv in ("slots", "indexed"):
            raise MckdError(f"{d}: tokenizer was built for format {meta.get('format')!r}, not {fmt!r}")
        if causal is not None and (kind != "hf" or not isinstance(causal, dict)
                                   or not causal.get("eos") or "prompt_suffix" not in causal):
            raise MckdError(f"{meta_f}: bad causal-student record {causal!r}")
        if tags is not None and (not isinstance(tags, list) or not all(isinstance(t, str) for t in tags)):
            raise MckdError(f"{meta_f}: bad tag set {tags!r}")
        return cls(tok=tok, kind=kind, format=fmt, leaves=lv, causal=causal, tags=tags)


def format_symbols(fmt: str, leaves: str) -> list[str]:
    """Structural units every tokenizer for (fmt, leaves) must hold as single tokens."""
    if _plain(fmt):
        return []
    syms = ["(", ")"]
    if fmt != "unlabeled":
        syms += ["(" + x for x in PTB_PHRASES + PTB_TAGS]
    if fmt == "skeleton" or (fmt == "labeled" and leaves in ("slots", "indexed")):
        syms += PTB_TAGS
    if fmt == "unlabeled" and leaves == "slots":
        syms.append(SLOT)
    if leaves == "indexed":
        syms += [index_token(k) for k in range(MAX_INDEX)]
    return syms


def build_tokenizer(records: list[dict], fmt: str, leaves: str = "slots",
                    vocab_size: int = 2000, min_frequency: int = 2) -> StudentTokenizer:
    """Build a WordPiece tokenizer from the training records plus the format's symbols.

    `records` hold "words" (or "source") and "target". Every structural unit found in the
    targets or implied by the format is one whole-word token. The rest of the budget goes, in
    this order, to every character seen (so any word can be spelled), the most frequent whole
    words (count >= min_frequency), then the most frequent word-initial and ``##`` continuation
    pieces of the words left out. Ties break alphabetically, so the same records always give
    the same vocabulary (the `tokenizers` WordPiece trainer does not: its hash maps are seeded
    per process, which made training irreproducible).
    """
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers

    if fmt not in FORMATS:
        raise MckdError(f"unknown output format {fmt!r} (expected one of {', '.join(FORMATS)})")
    if _plain(fmt):
        leaves = "words"
    if leaves not in LEAVES:
        raise MckdError(f"unknown leaves mode {leaves!r} (expected {', '.join(LEAVES)})")
    import unicodedata

    structural: Counter = Counter()
    words: Counter = Counter()
    probe = StudentTokenizer(tok=None, kind="mckd", format=fmt, leaves=leaves)

    def add_text(text: str) -> None:
        for w in unicodedata.normalize("NFC", text).split():
            words[w] += 1

    for r in records:
        add_text(" ".join(r.get("words") or str(r.get("source", "")).split()))
        if _plain(fmt):
            add_text(str(r.get("target", "")))
            continue
        for u in probe.target_text(r["target"]).split():
            if _is_open(u) or u == ")" or leaves in ("slots", "indexed"):
                structural[u] += 1
            else:
                words[u] += 1  # words of word-mode targets are ordinary words
    fixed = list(dict.fromkeys(SPECIALS + format_symbols(fmt, leaves) + sorted(structural)))
    vocab: dict[str, int] = {}

    def add(tok: str) -> None:
        if tok not in vocab:
            vocab[tok] = len(vocab)

    for t in fixed:
        add(t)
    chars = sorted({c for w in words for c in w})
    for c in chars:
        add(c)
        add("##" + c)
    ranked = sorted(words.items(), key=lambda kv: (-kv[1], kv[0]))
    budget = max(vocab_size, len(vocab) + 100)
    whole_share = len(vocab) + (budget - len(vocab)) * 2 // 3
    left_out: Counter = Counter()
    for w, n in ranked:
        if n >= min_frequency and len(vocab) < whole_share:
            add(w)
        else:
            left_out[w] = n
    pieces: Counter = Counter()
    for w, n in left_out.items():
        for k in range(2, min(len(w), 7)):
            pieces[w[:k]] += n
            pieces["##" + w[-k:]] += n
    for piece, n in sorted(pieces.items(), key=lambda kv: (-kv[1], kv[0])):
        if len(vocab) >= budget or n < min_frequency:
            break
        add(piece)
    if len(vocab) > HARD_MAX_VOCAB:
        raise MckdError(f"internal: vocabulary of {len(vocab)} tokens")
    plain = Tokenizer(models.WordPiece(vocab=vocab, unk_token=UNK, continuing_subword_prefix="##",
                                       max_input_chars_per_word=200))
    plain.normalizer = normalizers.NFC()
    plain.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    plain.decoder = decoders.WordPiece(prefix="##", cleanup=False)
    return StudentTokenizer(tok=plain, kind="mckd", format=fmt, leaves=leaves)


HARD_MAX_VOCAB = 1_000_000


# ---------------------------------------------------------------------- output length bounds
HARD_MAX_DECODING = 8192


def length_stats(tok: StudentTokenizer, examples: Iterable[tuple[int, int, int, str]]) -> dict:
    """Derive the output-length bound of a student from its training examples.

    `examples` are (n_words, n_source_tokens, n_target_tokens, target string). Tree targets: a
    tree over n words has n leaves and, without unary chains, at most n-1 branching nodes, each
    costing an opener and a closer. The bound allows 2 internal nodes per word (4 tokens) or
    1.25x the densest training tree, whichever is larger, plus the leaves: one token per word
    with slots; with literal words the source's word pieces plus 2 tokens per preterminal.
    Text targets: 1.5x the largest target/source token ratio seen.
    """
    per_word, per_src = 0.0, 0.0
    for n_words, n_src, n_tgt, target in examples:
        if _plain(tok.format):
            per_src = max(per_src, n_tgt / max(1, n_src))
            continue
        units = tree_units(target)
        if tok.leaves in ("slots", "indexed") and tok.format != "skeleton":
            units = compact_units(units, tok.format)
        struct = sum(1 for u in units if _is_open(u) or u == ")")
        if tok.leaves == "words":
            struct -= 2 * n_words  # preterminals are paid for by the leaf term below
        per_word = max(per_word, struct / max(1, n_words))
    if _plain(tok.format):
        return {"per_word": 0.0, "per_src_token": round(max(1.0, per_src) * 1.5, 3), "const": 16}
    structural = max(4.0, per_word * 1.25)
    if tok.leaves in ("slots", "indexed"):
        per_leaf = 2 if (tok.leaves == "indexed" and tok.format != "unlabeled") else 1
        return {"per_word": round(structural + per_leaf, 3), "per_src_token": 0.0, "const": 8}
    return {"per_word": round(structural + 2, 3), "per_src_token": 1.0, "const": 8}


def max_decoding_length(bound: dict, n_words: int, n_src_tokens: int) -> int:
    """Most output tokens (incl. EOS) a well-formed target for this input can need."""
    import math

    n = bound["const"] + bound["per_word"] * n_words + bound["per_src_token"] * n_src_tokens
    return int(min(HARD_MAX_DECODING, math.ceil(n)))
