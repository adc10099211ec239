"""Label inputs with an exported student: CTranslate2 batched greedy decoding (no torch).

    records → words → source tokens → sorted by length → chunks → translate_batch (batched by
    tokens, max_decoding_length from the word count) → detokenize → tree repair → JSONL

Decoder-only students ("student_kind": "causal" in mckd_model.json) decode with
ctranslate2.Generator instead: the prompt is fed at once and left out of the result, the
generated ids are turned into text by the `tokenizers` library; the rest is the same.

Finished records are appended to `<out>.partial` as they come, so a killed run resumes where it
stopped; the final file is written atomically, in input order. This module must not import
torch or transformers: `mckd parse` runs with only mckd, ctranslate2 and tokenizers installed.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from collections.abc import Iterable

from ..errors import MckdError
from .kinds import of_meta
from .. import formats
from ..formats import TREE_FORMATS
from ..versions import REPAIR_VERSION
from .decode import repair_output
from .tokenizer import StudentTokenizer, max_decoding_length

MODEL_META = "mckd_model.json"
REQUIRED_FILES = ("model.bin", "config.json", "tokenizer.json", "mckd_tokenizer.json", MODEL_META,
                  "manifest.json")


@dataclass
class ModelDir:
    """What an exported MODEL_DIR holds, checked on load."""

    path: Path
    meta: dict
    manifest: dict
    tok: StudentTokenizer

    @property
    def format(self) -> str:
        return self.meta["format"]


def load_model_dir(model_dir: str | os.PathLike) -> ModelDir:
    """Open and validate an exported model folder; MckdError names what is missing or bad."""
    d = Path(model_dir)
    if not d.is_dir():
        raise MckdError(f"{d}: model folder not found")
    missing = [f for f in REQUIRED_FILES if not (d / f).is_file()]
    if missing:
        raise MckdError(f"{d}: not a complete mckd model folder (missing {', '.join(missing)}); "
                        "create it with `mckd export`")
    metas = {}
    for name in (MODEL_META, "manifest.json"):
        try:
            metas[name] = json.loads((d / name).read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise MckdError(f"{d / name}: not valid JSON ({e})") from None
    meta = metas[MODEL_META]
    for key in ("format", "leaves", "length_bound"):
        if key not in meta:
            raise MckdError(f"{d / MODEL_META}: missing field {key!r}")
    tok = StudentTokenizer.load(d, format=meta["format"], leaves=meta["leaves"])
    return ModelDir(path=d, meta=meta, manifest=metas["manifest.json"], tok=tok)


def usable_cpus() -> int:
    """The cores this process may run on (taskset, a container's cpuset), not the machine's."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # no sched_getaffinity (macOS)
        return max(1, os.cpu_count() or 1)


def _ct2_device(device: str) -> str:
    import ctranslate2

    if device == "auto":
        return "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"
    if device not in ("cpu", "cuda"):
        raise MckdError(f"device {device!r}: expected auto, cpu or cuda")
    if device == "cuda" and ctranslate2.get_cuda_device_count() == 0:
        raise MckdError("device cuda requested but CTranslate2 sees no CUDA GPU")
    return device


class Labeler:
    """An exported student loaded in CTranslate2, labelling lists of word sequences."""

    def __init__(self, model_dir: str | os.PathLike, device: str = "auto", threads: int = 0,
                 compute_type: str = "default", max_batch_tokens: int = 4096,
                 workers: int | None = None, decoding: str = "auto",
                 temperature: float = 0.0, seed: int = 0, engine: str = "auto",
                 parallel: int = 16, scores: bool = True):
        """temperature > 0: sample each output at that temperature instead of greedy decoding,
        reproducibly from `seed` (one CTranslate2 worker, see _seed_sampling).
        engine: who decodes under the tree constraint (see resolve_engine); `parallel`:
        sentences per llama.cpp call; scores=False: trees only, log-probs of forced tokens not
        computed (llama.cpp; for `mckd parse`, which writes no log-probs)."""
        self.scores = scores
        if not 0 <= temperature <= 10:
            raise MckdError(f"temperature must be in [0, 10], got {temperature}")
        self.md = load_model_dir(model_dir)
        self.temperature, self.seed = float(temperature), int(seed)
        self._seeded, self._rng = False, None
        self.tok = self.md.tok
        self.fmt = self.md.format
        self.bound = self.md.meta["length_bound"]
        self.max_batch_tokens = max(1, int(max_batch_tokens))
        self.device = _ct2_device(device)
        self.kind = of_meta(self.md.meta)
        self.decoding = resolve_decoding(decoding, self.kind, self.fmt, self.md.path)
        self.engine = resolve_engine(engine, self.md.path, self.decoding)
        self._index = None
        self._asked, self._load_args = device, (compute_type, threads, workers)
        if self.engine == LLAMA:
            from .llama_decode import GGUF_FILE, LlamaStudent

            self.device = "cpu"  # the llama.cpp build mckd installs decodes on the CPU
            self.workers = 1
            self._llama = LlamaStudent(self.md.path / GGUF_FILE, self.tok, self.fmt,
                                       threads=threads, parallel=parallel)
            return
        if self.decoding == "constrained":
            from ..teacher.constraint import VocabIndex
            from .constrained import token_bytes

            self._index = VocabIndex(token_bytes(self.tok.tok))
        self._load()

    def _load(self) -> None:
        """(Re)create the CTranslate2 model on self.device."""
        import ctranslate2

        compute_type, threads, workers = self._load_args
        self._seeded = False  # new worker threads: seed them again at the first decode

        # On CPU, students are small: their matmuls barely gain from a second core, while two
        # sub-batches decoded side by side (one core each) do (measured in bench_relabel). So
        # `threads` become CTranslate2 workers ("inter" threads) of one core each, and label()
        # splits a chunk into at least that many token-bounded sub-batches. On CUDA, one worker.
        # `workers` overrides this split (bench_relabel compares it with one worker of n threads).
        n = max(0, int(threads)) or usable_cpus()
        cpu = self.device == "cpu"
        self.workers = max(1, int(workers)) if workers else (n if cpu else 1)
        if self.temperature > 0:
            self.workers = 1  # which worker draws which sentence would vary from run to run
        engine = getattr(ctranslate2, self.kind.ct2_class)
        try:
            self.translator = engine(
                str(self.md.path), device=self.device, compute_type=compute_type,
                inter_threads=self.workers, intra_threads=max(1, n // self.workers) if cpu else 0)
        except (RuntimeError, ValueError) as e:
            raise MckdError(f"{self.md.path}: CTranslate2 cannot load the model ({e})") from None

    def label(self, words_list: list[list[str]], ids: list[str] | None = None) -> list[dict]:
        """Greedy-decode one chunk (ideally of similar lengths) and repair every output."""
        try:
            return self._label(words_list, ids)
        except RuntimeError as e:
            # CTranslate2 loads the CUDA libraries it was built for (cuBLAS of CUDA 12 for the
            # 4.x wheels) at the first decode, not when the model loads: seen on an H200 with
            # only CUDA 13's, "Library libcublas.so.12 is not found or cannot be loaded" (a
            # one-step decode at load did not trigger it). `auto` moves to the CPU and goes on;
            # an explicit `cuda` stops here, before any output is written.
            if self.device != "cuda" or "cannot be loaded" not in str(e):
                raise
            if self._asked == "cuda":
                import ctranslate2

                raise MckdError(f"device cuda: CTranslate2 {ctranslate2.__version__} cannot "
                                f"decode on this GPU ({e}); install the CUDA libraries it was "
                                "built for (e.g. pip install nvidia-cublas-cu12, with its lib "
                                "folder on LD_LIBRARY_PATH) or use device cpu") from None
            print(f"mckd: CTranslate2 sees a GPU but cannot decode on it ({e}); relabelling on "
                  "the CPU", file=sys.stderr, flush=True)
            self.device = "cpu"
            self._load()
            return self._label(words_list, ids)

    def _seed_sampling(self) -> None:
        """CTranslate2 seeds each worker thread's generator once, from the global seed as it
        is when that thread first samples: so set it just before this labeler's first decode.
        A labeler per seed (and one worker) makes every sampled pass reproducible."""
        import ctranslate2
        import numpy as np

        if self.temperature > 0 and not self._seeded:
            ctranslate2.set_random_seed(self.seed)
            self._rng = np.random.default_rng(self.seed)
            self._seeded = True

    def _label(self, words_list: list[list[str]], ids: list[str] | None = None) -> list[dict]:
        if not words_list:
            return []
        self._seed_sampling()
        srcs = [self.tok.ids_to_tokens(self.tok.encode_source(w)) for w in words_list]
        limits = [max_decoding_length(self.bound, len(w), len(s)) for w, s in zip(words_list, srcs)]
        limit = max(limits)
        # translate_batch cuts the inputs into sub-batches of at most this many tokens and hands
        # them to the workers; make sure there are enough to keep every worker busy.
        total = sum(len(x) for x in srcs)
        per_batch = max(max(len(x) for x in srcs), min(self.max_batch_tokens,
                                                      -(-total // self.workers)))
        min_new = int(self.md.meta.get("min_new_tokens", 0))
        if self.decoding == "constrained":
            return self._label_constrained(words_list, srcs, limits, ids)
        from .constrained import sampling_options

        results = self.kind.ct2_decode(self.translator, self.tok, srcs, per_batch=per_batch,
                                       limit=limit, min_new=min_new,
                                       sampling=sampling_options(self.temperature))
        out = []
        for k, (w, (generated, score)) in enumerate(zip(words_list, results)):
            n_gen = len(generated)
            score = float("nan") if score is None else score
            # Reaching the call's limit means no EOS was produced: the output was cut. The limit
            # is an upper bound on any well-formed tree, so this only happens to runaway output.
            cut = n_gen >= limit
            text = self.kind.text(self.tok, generated, w)
            try:
                tree, ok, repaired, problems = repair_output(text, w, self.fmt)
            except MckdError as e:
                where = ids[k] if ids else k
                raise MckdError(f"record {where}: {e}") from None
            if cut:
                problems = [f"output reached the {limit}-token limit without EOS"] + problems
            # `output` is what the student wrote (what every metric scores); `target` is the
            # repaired tree a next-stage student may train on. With length_penalty=0 CT2's
            # score is the sum of the token log-probs (and EOS).
            fixed = repaired or cut or not ok  # anything but the model's own well-formed tree
            out.append({"target": tree, "output": text, "valid": not fixed, "repaired": fixed,
                        "logprob": round(score, 6),
                        "logprob_mean": round(score / max(1, n_gen + (0 if cut else 1)), 6),
                        "tokens": n_gen, "cut": cut, "problems": problems})
        return out

    def _label_constrained(self, words_list, srcs, limits, ids) -> list[dict]:
        if self.engine == LLAMA:
            dec = self._llama.decode([self.tok.encode_source(w) for w in words_list], words_list,
                                     limits, temperature=self.temperature, seed=self.seed,
                                     keys=ids, scores=self.scores)
        else:
            from .constrained import decode

            dec = decode(self.translator, self.tok, self.fmt, srcs, words_list, limits,
                         self._index, max_batch_tokens=self.max_batch_tokens,
                         temperature=self.temperature, rng=self._rng)
        out = []
        for k, (w, d) in enumerate(zip(words_list, dec)):
            try:
                tree, ok, repaired, problems = repair_output(d.text, w, self.fmt)
            except MckdError as e:
                raise MckdError(f"record {ids[k] if ids else k}: {e}") from None
            if d.cut:
                problems = [f"output reached the {limits[k]}-token limit; the tree was closed "
                            "without the model"] + problems
            fixed = repaired or d.cut or not ok
            out.append({"target": tree, "output": d.text, "valid": not fixed, "repaired": fixed,
                        "logprob": round(d.logprob, 6),
                        "logprob_mean": round(d.logprob / max(1, d.tokens + (0 if d.cut else 1)), 6),
                        "tokens": d.tokens, "cut": d.cut, "problems": problems,
                        "corrections": d.corrections})
        return out


DECODINGS = ("auto", "constrained", "free")
CT2, LLAMA = "ctranslate2", "llama.cpp"
ENGINES = ("auto", CT2, LLAMA)


def resolve_engine(engine: str, model_dir: Path, decoding: str) -> str:
    """Who decodes: "llama.cpp" (the GGUF that `mckd export` writes beside a decoder-only
    student, through the teacher's batched engine: the logits of every step, the KV cache
    kept) or "ctranslate2". "auto" is llama.cpp for constrained decoding wherever the folder
    has the GGUF and llama-cpp-python is installed; free decoding and seq2seq students are
    CTranslate2's (it is faster there, and needs nothing more than the base install)."""
    from .llama_decode import GGUF_FILE, llama_available

    if engine not in ENGINES:
        raise MckdError(f"engine {engine!r}: expected one of {', '.join(ENGINES)}")
    has_gguf = (Path(model_dir) / GGUF_FILE).is_file()
    if engine == "auto":
        return LLAMA if decoding == "constrained" and has_gguf and llama_available() else CT2
    if engine == LLAMA:
        if decoding != "constrained":
            raise MckdError(f"{model_dir}: engine llama.cpp decodes under the tree constraint "
                            "only (decoding constrained); free decoding is CTranslate2's")
        if not has_gguf:
            raise MckdError(f"{model_dir}: no {GGUF_FILE} (export a decoder-only student of "
                            "the llama or qwen2 architecture with mckd export to get one)")
        if not llama_available():
            raise MckdError("engine llama.cpp needs llama-cpp-python: pip install 'mckd[teacher]'")
    return engine


def resolve_decoding(decoding: str, kind, fmt: str, where) -> str:
    """"auto" is constrained for decoder-only students of a format with a grammar (trees, tags;
    see mckd.student.constrained), free else."""
    if decoding not in DECODINGS:
        raise MckdError(f"decoding {decoding!r}: expected one of {', '.join(DECODINGS)}")
    can = kind.can_constrain and formats.get(fmt).constrained
    if decoding == "auto":
        return "constrained" if can else "free"
    if decoding == "constrained" and not can:
        raise MckdError(f"{where}: constrained decoding needs a decoder-only student of a tree "
                        f"or tag format (this one is {kind.name}, "
                        f"format {fmt})")
    return decoding


def _records_words(records: list[dict]) -> tuple[list[str], list[list[str]]]:
    ids, words, seen = [], [], set()
    for i, r in enumerate(records):
        if not isinstance(r, dict):
            raise MckdError(f"input record {i + 1}: expected an object")
        rid = str(r.get("id", i + 1))
        if rid in seen:
            raise MckdError(f"input record {i + 1}: duplicate id {rid!r}")
        seen.add(rid)
        w = r.get("words") or str(r.get("source") or "").split()
        if not w or not all(isinstance(x, str) and x and not any(c.isspace() for c in x) for x in w):
            raise MckdError(f"input record {rid}: needs non-empty 'words' (tokens without spaces) "
                            "or 'source'")
        ids.append(rid)
        words.append(list(w))
    return ids, words


def _progress(total: int, desc: str, enabled: bool):
    from ..progress import bar

    return bar(total, desc, "sent", enabled, leave=True)


def chunk_sizes(total: int, cap: int = 512, first: int = 16) -> list[int]:
    """How many sentences each written chunk of a pass holds: first, doubling up to cap.

    A chunk is the unit that is written and survives an interrupt, so the first ones are small
    (a slow student shows output within a minute, not after 512 sentences) and later ones large
    (full batches). Sizes depend on the counts only, never on timing, so a pass batches its
    sentences the same way every time (int8 outputs depend on their batch). A tail shorter than
    half a chunk joins the chunk before it rather than decode as a tiny batch.
    """
    cap = max(1, int(cap))
    sizes, n, left = [], min(max(1, int(first)), cap), max(0, int(total))
    while left > 0:
        take = left if left - n < n // 2 else min(n, left)
        sizes.append(take)
        left -= take
        n = min(2 * n, cap)
    return sizes


def in_chunks(items: list, cap: int = 512) -> Iterable[list]:
    """`items` cut into consecutive chunks of `chunk_sizes(len(items), cap)`."""
    s = 0
    for n in chunk_sizes(len(items), cap):
        yield items[s:s + n]
        s += n


def relabel(model_dir: str | os.PathLike, records: list[dict], out_path: str | os.PathLike, *,
            device: str = "auto", threads: int = 0, compute_type: str = "default",
            max_batch_tokens: int = 4096, chunk: int = 512, progress: bool = True,
            decoding: str = "auto", temperature: float = 0.0, seed: int = 0,
            engine: str = "auto") -> dict:
    """Label `records` (with `id` and `words` or `source`) into `out_path`; resumable.
    temperature > 0: one sampled pass (seeded; one CTranslate2 worker) instead of greedy.

    Output records, in input order: id, source, words, target (repaired tree), output (the raw
    decoded text), valid, repaired, logprob (sum of token log-probs), logprob_mean, tokens
    (generated), cut, problems. Returns a summary dict.
    """
    from ..jsonio import (
        JsonlAppender,
        iter_jsonl,
        sha256_text,
        write_json_atomic,
        write_jsonl_atomic,
    )

    ids, words = _records_words(records)
    if not ids:
        raise MckdError("no input records to label")
    lab = Labeler(model_dir, device=device, threads=threads, compute_type=compute_type,
                  max_batch_tokens=max_batch_tokens, decoding=decoding,
                  temperature=temperature, seed=seed, engine=engine)
    out = Path(out_path)
    partial = out.with_name(out.name + ".partial")
    pmeta = out.with_name(out.name + ".partial.json")
    # A partial file is only reused for the same model and the same inputs.
    key = {"model": lab.md.manifest.get("source_checkpoint_sha256"), "repair": REPAIR_VERSION,
           "model_dir": str(Path(model_dir).resolve()), "compute_type": compute_type,
           "decoding": lab.decoding,
           "inputs": sha256_text(json.dumps([ids, words], ensure_ascii=False))}
    if lab.temperature > 0:  # only then, so a greedy pass's older partial files stay valid
        key.update(temperature=lab.temperature, seed=lab.seed)
    if lab.engine == LLAMA:  # likewise: CTranslate2 partial files stay valid
        key["engine"] = LLAMA
    done: dict[str, dict] = {}
    # A resumed sampled pass keeps its finished samples and draws the rest from the seed's
    # stream afresh: each a sample of the same model, not the ones an unbroken pass would draw.
    if partial.exists():
        old = json.loads(pmeta.read_text()) if pmeta.exists() else None
        if old == key:
            idset = set(ids)
            for r in iter_jsonl(partial, tolerate_torn_tail=True):
                if r.get("id") in idset:
                    done[r["id"]] = r
        else:
            partial.unlink()
    write_json_atomic(pmeta, key)
    resumed = len(done)

    todo = sorted((i for i in range(len(ids)) if ids[i] not in done),
                  key=lambda i: (len(words[i]), i))
    bar = _progress(len(ids), f"relabel {Path(model_dir).name}", progress)
    if bar is not None:
        bar.update(resumed)
    t0 = time.time()
    gen_tokens = 0
    with JsonlAppender(partial, fsync_every=max(1, chunk)) as app:
        for part in in_chunks(todo, chunk):
            labels = lab.label([words[i] for i in part], [ids[i] for i in part])
            for i, lr in zip(part, labels):
                rec = {"id": ids[i], "source": " ".join(words[i]), "words": words[i], **lr}
                app.append(rec)
                done[ids[i]] = rec
                gen_tokens += lr["tokens"]
            app.sync()
            if bar is not None:
                bar.update(len(part))
    if bar is not None:
        bar.close()
    secs = time.time() - t0
    final = [done[i] for i in ids]
    write_jsonl_atomic(out, final)
    partial.unlink(missing_ok=True)
    pmeta.unlink(missing_ok=True)
    n_new = len(todo)
    return {
        "n": len(final), "resumed": resumed, "labelled_now": n_new,
        "valid": sum(r["valid"] for r in final), "repaired": sum(r["repaired"] for r in final),
        "cut": sum(bool(r.get("cut")) for r in final),
        "seconds": round(secs, 3), "sentences_per_s": round(n_new / secs, 2) if secs > 0 else None,
        "tokens_per_s": round(gen_tokens / secs, 1) if secs > 0 else None,
        "device": lab.device, "format": lab.fmt, "decoding": lab.decoding,
        "engine": lab.engine, "temperature": lab.temperature, "seed": lab.seed,
        "corrections": sum(int(r.get("corrections", 0)) for r in final),
    }


def parse_records(model_dir: str | os.PathLike, lines: Iterable[str], *, device: str = "auto",
                  threads: int = 0, batch: int = 256, decoding: str = "auto",
                  compute_type: str = "default", temperature: float = 0.0,
                  seed: int = 0, engine: str = "auto") -> Iterable[dict | None]:
    """Per input line, in order: None for a blank line, else the Labeler's record of it
    (`output` as the model wrote it, `target` as printed, `valid`, `repaired`, ...)."""
    lab = Labeler(model_dir, device=device, threads=threads, decoding=decoding,
                  compute_type=compute_type, temperature=temperature, seed=seed, engine=engine,
                  scores=False)
    for buf in _line_batches(lines, lab.fmt, batch):
        yield from _batch_records(lab, buf)


def parse_lines(model_dir: str | os.PathLike, lines: Iterable[str], **kw) -> Iterable[str]:
    """One tree (or text output) per input line, in order; "" for a blank line."""
    for r in parse_records(model_dir, lines, **kw):
        yield "" if r is None else r["target"]


def committee_records(model_dirs: list, lines: Iterable[str], *, threshold: float = 0.2,
                      device: str = "auto", threads: int = 0, batch: int = 256,
                      decoding: str = "auto", compute_type: str = "default", samples: int = 0,
                      temperature: float = 0.7, seed: int = 0,
                      engine: str = "auto") -> Iterable[dict | None]:
    """Per input line: None for a blank line, else the consensus tree (mckd.teacher.vote) of
    what several exported students of the unlabeled format wrote for it: a committee of
    students. Where none wrote a tree over the words, the first student's output as
    `parse_records` gives it (repaired, `valid` false).
    samples > 0: each student also votes that many trees sampled at `temperature` (the k-th
    sample of every student from seed + k), self-consistency as the voting teacher does."""
    from ..teacher.vote import vote

    if samples < 0:
        raise MckdError(f"samples must be >= 0, got {samples}")
    labs = [Labeler(d, device=device, threads=threads, decoding=decoding,
                    compute_type=compute_type, engine=engine, scores=False) for d in model_dirs]
    fmt = labs[0].fmt
    other = [f"{d} ({lab.fmt})" for d, lab in zip(model_dirs, labs) if lab.fmt != fmt]
    if not formats.get(fmt).votes or other:
        raise MckdError("a committee votes on unlabeled trees or on tags, all of one format; "
                        f"not so: {', '.join(other) or f'{model_dirs[0]} ({fmt})'}")
    if samples:
        if temperature <= 0:
            raise MckdError(f"sampled votes need a temperature > 0, got {temperature}")
        labs += [Labeler(d, device=device, threads=threads, decoding=decoding,
                         compute_type=compute_type, temperature=temperature, seed=seed + k,
                         engine=engine, scores=False)
                 for k in range(1, samples + 1) for d in model_dirs]
    for buf in _line_batches(lines, fmt, batch):
        # the members' raw outputs: one that is not a tree over the words abstains (a repair
        # never votes)
        recs = [_batch_records(lab, buf) for lab in labs]
        for i, words in enumerate(buf):
            if words is None:
                yield None
                continue
            outs = [r[i]["output"] for r in recs]
            tree, _ = vote(fmt, outs, words, threshold)
            voters = sum(bool(r[i]["valid"]) for r in recs)
            if tree is None:  # no member wrote a tree over the words: the first one's
                yield {**recs[0][i], "voters": voters, "members": len(recs)}
            else:
                yield {"output": tree, "target": tree, "valid": True, "repaired": False,
                       "voters": voters, "members": len(recs)}


def parse_committee(model_dirs: list, lines: Iterable[str], **kw) -> Iterable[str]:
    """The committee's tree per input line, in order; "" for a blank line."""
    for r in committee_records(model_dirs, lines, **kw):
        yield "" if r is None else r["target"]


def _line_batches(lines: Iterable[str], fmt: str,
                  batch: int) -> Iterable[list[list[str] | None]]:
    """The words of the input lines (None for a blank line, so that the output keeps one line
    per input line), up to `batch` sentences at a time."""
    buf: list[list[str] | None] = []
    n = 0
    any_input = False
    for line in lines:
        w = line.split()
        if not w:
            buf.append(None)
            continue
        any_input = True
        if fmt in TREE_FORMATS:  # PTB convention for brackets inside words
            w = [x.replace("(", "-LRB-").replace(")", "-RRB-") for x in w]
        buf.append(w)
        n += 1
        if n >= batch:
            yield buf
            buf, n = [], 0
    if buf:
        yield buf
    if not any_input:
        raise MckdError("no input sentences (empty input)")


def _batch_records(lab: Labeler, buf: list[list[str] | None]) -> list[dict | None]:
    """The Labeler's records of one batch, in input order (it labels them sorted by length);
    None where the line was blank."""
    order = sorted((i for i in range(len(buf)) if buf[i] is not None),
                   key=lambda i: len(buf[i]))
    out: list = [None] * len(buf)
    if not order:
        return out
    res = lab.label([buf[i] for i in order], [f"line {i + 1}" for i in order])
    for i, r in zip(order, res):
        out[i] = r
    return out
