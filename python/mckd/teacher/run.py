"""`run_teacher`: pseudolabel inputs with a few-shot prompted local GGUF model, resumably.

Every finished output is appended (fsynced) to a cache file next to `--out`, keyed by everything
that determines it: model file hash, prompt template, the demonstrations shown, format, decoding
settings and the input. A killed run loses at most the sentences in flight; re-running reuses
the rest, and a finished job re-runs with zero model calls (the model is not even loaded). The
final `--out` file is written atomically, in input order.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from ..config import TeacherSettings
from ..errors import MckdError
from .. import formats
from ..chunks import gold_target
from ..formats import FORMATS, TREE_FORMATS
from ..jsonio import (
    JsonlAppender,
    iter_jsonl,
    sha256_text,
    write_jsonl_atomic,
)
from ..locks import cache_lock, exclusive
from ..values import word_band
from ..versions import CONSTRAINT_VERSION, REPAIR_VERSION
from .engine import all_cores  # noqa: F401  (re-exported: what threads = 0 means)
from .prompt import DEMO_SEP, HEAL, PROMPT_FORMATS, SELECTIONS, TEMPLATE, DemoSelector
from .constraint import grammar_for_format
from .vote import vote

# 2: outputs keep the model's raw text in `output`; the code versions enter the key as well
# 3: the batch settings (parallel, KV layout, flash attention) enter the key
# 4: fixed waves of `parallel` inputs (outputs depend on the batch's make-up)
KEY_VERSION = 4


@dataclass
class TeacherConfig(TeacherSettings):
    """One teacher call (`run_teacher`): the teacher settings (mckd.config.TeacherSettings,
    declared once for `mckd distill` and `mckd teach`) and what the call itself needs."""
    format: str = "unlabeled"         # unlabeled | labeled | skeleton | text
    seed: int = 0
    temperature: float = 0.0          # 0 = greedy (default); > 0 samples, seeded per input
    # the sampling seed alone (None = `seed`): several samples of one prompt (teacher/vote.py)
    # keep the demonstrations `seed` chose
    sample_seed: int | None = None
    # "LO-HI": only gold examples of LO to HI words may be demonstrations ("" = all of them)
    demo_words: str = ""
    max_new_tokens: int = 0           # 0 = from the demonstrations' output/input length ratio
    cache_path: str | None = None     # default: <out>.cache.jsonl
    shared_cache: bool = True         # also read/write the shared store (teacher/store.py)
    progress: bool = True             # tqdm bar on stderr
    check_memory: bool = True
    # Flash attention off: on CPU its masked loop made batched decode steps ~30% slower here
    # (unified KV cache, 8 sequences); None leaves the choice to llama.cpp.
    flash_attn: bool | None = False
    # KV layout with a shared prefix: False = one stream per sequence (prefix copied in),
    # True = one unified cell pool (prefix shared in place); see engine.BatchDecoder.
    kv_unified: bool = False
    # who generates (teacher/backends.py): auto = server when `url` is set, else llama.cpp
    backend: str = "auto"

    def sampling_seed(self) -> int:
        """The seed each input's sampler is derived from."""
        return self.seed if self.sample_seed is None else self.sample_seed

    def passes(self) -> list[TeacherConfig]:
        """The single-pass settings whose outputs vote: this one, the demonstrations-by-length
        pass (`vote_demo_words`), then each sample. A pass of demo_words filters the demos."""
        one = replace(self, samples=0, vote_demo_words="")
        band = [replace(one, demo_words=self.vote_demo_words)] if self.vote_demo_words else []
        return [one] + band + [replace(one, temperature=self.vote_temperature,
                                       sample_seed=self.seed + j)
                               for j in range(1, self.samples + 1)]

    def voting(self) -> bool:
        """Whether the label is a vote over several passes."""
        return bool(self.samples or self.vote_demo_words)


def _warn(msg: str) -> None:
    print(f"mckd teach: warning: {msg}", file=sys.stderr, flush=True)


def _validate(cfg: TeacherConfig) -> None:
    if cfg.format not in FORMATS:
        raise MckdError(f"unknown format {cfg.format!r} (expected one of {', '.join(FORMATS)})")
    if cfg.demo_selection not in SELECTIONS:
        raise MckdError(f"unknown demo selection {cfg.demo_selection!r} "
                        f"(expected one of {', '.join(SELECTIONS)})")
    if cfg.prompt_format not in PROMPT_FORMATS:
        raise MckdError(f"unknown prompt format {cfg.prompt_format!r} (expected one of "
                        f"{', '.join(PROMPT_FORMATS)})")
    if cfg.prompt_format == "chat" and cfg.url:
        raise MckdError("prompt_format 'chat' needs a local GGUF teacher (it renders the GGUF's "
                        "own chat template); a server teacher takes the plain prompt")
    for name, lo in (("shots", 0), ("parallel", 1), ("n_ctx", 64), ("max_new_tokens", 0)):
        if getattr(cfg, name) < lo:
            raise MckdError(f"{name} must be >= {lo}, got {getattr(cfg, name)}")
    from .engine import SCHEDULES

    if cfg.schedule not in SCHEDULES:
        raise MckdError(f"unknown schedule {cfg.schedule!r} (expected one of "
                        f"{', '.join(SCHEDULES)})")
    if cfg.threads < 0:
        raise MckdError(f"threads must be >= 0 (0 = all cores), got {cfg.threads}")
    if cfg.temperature < 0:
        raise MckdError(f"temperature must be >= 0, got {cfg.temperature}")
    if cfg.samples < 0:
        raise MckdError(f"samples must be >= 0 (0 = one pass, no vote), got {cfg.samples}")
    for name in ("demo_words", "vote_demo_words"):
        if getattr(cfg, name):
            word_band(getattr(cfg, name), name)
    if cfg.voting():
        if not formats.get(cfg.format).votes:
            raise MckdError(f"voting (samples, vote_demo_words) works on the unlabeled and tag "
                            f"formats, not {cfg.format!r}: a consensus tree carries no labels")
        if cfg.vote_temperature <= 0:
            raise MckdError("vote_temperature must be > 0 (the samples that vote are sampled), "
                            f"got {cfg.vote_temperature}")
        if not 0 <= cfg.vote_threshold < 1:
            raise MckdError(f"vote_threshold must be in [0, 1), got {cfg.vote_threshold}")
    if not 0 <= cfg.max_broken <= 1:
        raise MckdError(f"max_broken must be a share in [0, 1], got {cfg.max_broken}")
    if cfg.url:
        from .server import Client

        Client(cfg.server())  # checks the URL and the server settings


def _in_band(demos: list[dict], spec: str) -> list[dict]:
    lo, hi = word_band(spec)
    out = [d for d in demos if lo <= len(d["words"]) <= hi]
    if not out:
        raise MckdError(f"demo_words {spec!r}: none of the {len(demos)} demonstrations has "
                        f"{lo} to {hi} words")
    return out


def _words(rec: dict) -> list[str]:
    w = rec.get("words")
    if w:
        return [str(x) for x in w]
    return str(rec.get("source") or "").split()


def _check_words(words: list[str], where: str) -> None:
    for j, w in enumerate(words, 1):
        if any(c in w for c in "()") or any(c.isspace() for c in w) or not w:
            raise MckdError(f"{where}: word {j} {w!r} cannot be a tree leaf (brackets and spaces "
                            "must be escaped, e.g. -LRB- / -RRB-)")


def _norm_demos(demos: list[dict], fmt: str) -> list[dict]:
    out = []
    for i, r in enumerate(demos, 1):
        where = f"demos record {i} (id {r.get('id', '?')})"
        if not isinstance(r, dict):
            raise MckdError(f"demos record {i}: expected an object")
        words = _words(r)
        if not words:
            raise MckdError(f"{where}: no words (needs 'words' or a non-empty 'source')")
        tgt = gold_target(r, fmt)  # the format's own target first
        if not isinstance(tgt, str) or not tgt.strip():
            raise MckdError(f"{where}: no target for format {fmt!r} (needs 'targets.{fmt}' "
                            "or 'target')")
        if "\n" in tgt:
            raise MckdError(f"{where}: target spans several lines; a prompt needs one line")
        if formats.get(fmt).tags and tgt.split()[0::2] != words:
            raise MckdError(f"{where}: target is not the words each followed by its tag "
                            "(w1 t1 w2 t2 ...)")
        out.append({"id": str(r.get("id", f"demo#{i}")), "words": words,
                    "source": r.get("source") or " ".join(words), "target": tgt.strip()})
    return out


def _norm_inputs(inputs: list[dict], fmt: str) -> list[dict]:
    out = []
    for i, r in enumerate(inputs, 1):
        if not isinstance(r, dict):
            raise MckdError(f"inputs record {i}: expected an object")
        if "id" not in r:
            raise MckdError(f"inputs record {i}: no 'id'")
        where = f"inputs record {i} (id {r['id']})"
        words = _words(r)
        if not words:
            raise MckdError(f"{where}: no words (needs 'words' or a non-empty 'source')")
        if fmt in TREE_FORMATS:
            _check_words(words, where)
        src = r.get("source") or " ".join(words)
        if "\n" in src:
            raise MckdError(f"{where}: source spans several lines")
        out.append({"id": str(r["id"]), "words": words, "source": src})
    return out


def _read_cache(path: Path) -> tuple[dict[str, dict], dict[tuple, str]]:
    items: dict[str, dict] = {}
    shas: dict[tuple, str] = {}
    if not path.exists():
        return items, shas
    for rec in iter_jsonl(path, tolerate_torn_tail=True):
        if rec.get("kind") == "item" and "key" in rec and isinstance(rec.get("out"), dict):
            items[rec["key"]] = rec["out"]
        elif rec.get("kind") == "model":
            shas[(rec.get("path"), rec.get("size"), rec.get("mtime_ns"))] = rec.get("sha256")
    return items, shas


def run_teacher(model_path, demos: list[dict], inputs: list[dict], out_path,
                cfg: TeacherConfig | None = None) -> dict:
    """Label `inputs` with the few-shot teacher; writes `out_path` (JSONL); returns a summary."""
    from . import engine

    cfg = cfg or TeacherConfig()
    _validate(cfg)
    t_start = time.time()
    loads0, calls0 = engine.STATS["model_loads"], engine.STATS["decode_calls"]
    from .backends import open_backend

    backend = open_backend(cfg, model_path)
    out_path = Path(out_path)
    cache_path = Path(cfg.cache_path) if cfg.cache_path else out_path.with_name(
        out_path.name + ".cache.jsonl")
    D = _norm_demos(demos, cfg.format)
    X = _norm_inputs(inputs, cfg.format)
    if not D and cfg.shots > 0:
        raise MckdError("no demonstrations given (the teacher is few-shot)")
    # label sets come from the gold demonstrations (also used for fallback trees when unconstrained)
    grammar = grammar_for_format(cfg.format, [d["target"] for d in D])

    # one writer per cache: a second run on the same cache fails at once, naming the holder
    cache_path.parent.mkdir(parents=True, exist_ok=True)
    with exclusive(cache_lock(cache_path), "teacher cache", cache_path):
        passes = cfg.passes()
        cache = _read_cache(cache_path)  # once: every pass adds what it generates to it
        runs = []
        for i, pcfg in enumerate(passes):
            if len(passes) > 1 and cfg.progress:
                what = ("the first" if i == 0 else
                        f"demonstrations of {pcfg.demo_words} words" if pcfg.demo_words else
                        f"sample, T={pcfg.temperature}, seed {pcfg.sample_seed}")
                print(f"mckd teach: vote pass {i + 1} of {len(passes)} ({what})",
                      file=sys.stderr, flush=True)
            runs.append(_label(backend, cache_path, cache, D, X, grammar, pcfg))
    records = vote_records(runs, cfg) if cfg.voting() else runs[0][0]
    write_jsonl_atomic(out_path, records)
    return _summary(records, [r[1] for r in runs], cfg, out_path, cache_path,
                    (t_start, loads0, calls0))


def _label(backend, cache_path, cache, D, X, grammar, cfg) -> tuple[list[dict], dict]:
    """One pass once the cache is held: (records in input order, the pass's counts).
    `backend` generates what no cache holds (teacher/backends.py). `cache`: (items, model
    hashes) as _read_cache gives them, kept current with what is added."""
    if cfg.demo_words:  # the grammar's label sets stay those of all the demonstrations
        D = _in_band(D, cfg.demo_words)
    items, shas = cache
    common = {"v": KEY_VERSION, "constraint": CONSTRAINT_VERSION, "repair": REPAIR_VERSION,
              "template": TEMPLATE, "sep": DEMO_SEP, "heal": HEAL,
              "format": cfg.format, "constrained": cfg.constrained,
              "temperature": cfg.temperature,
              "sample_seed": cfg.sampling_seed() if cfg.temperature > 0 else None,
              "max_new": cfg.max_new_tokens,
              # only when set: the keys of outputs made without one stay what they were
              **({"instruction": cfg.instruction.strip()} if cfg.instruction.strip() else {}),
              **({"prompt_format": cfg.prompt_format} if cfg.prompt_format != "plain" else {}),
              "labels": asdict(grammar) if grammar else None}
    # the code that decides an output (constraint, repair) is part of its key: an output made
    # by older code is never served as if the current code had made it; so is what the
    # backend says decides its outputs (a GGUF's hash and batch settings, a server's identity)
    key_fields, backend_fields = backend.describe(cfg, shas)
    common.update(key_fields)
    name, sha = backend.model, backend.sha256
    identity = {"model": name, "sha256": sha, "format": cfg.format, "shots": cfg.shots,
                "demo_selection": cfg.demo_selection, "seed": cfg.seed,
                **({"sample_seed": cfg.sample_seed} if cfg.sample_seed is not None else {}),
                **({"instruction": cfg.instruction.strip()} if cfg.instruction.strip() else {}),
                **({"prompt_format": cfg.prompt_format} if cfg.prompt_format != "plain" else {}),
                **({"demo_words": cfg.demo_words} if cfg.demo_words else {}),
                "constrained": cfg.constrained, "temperature": cfg.temperature,
                **backend_fields,
                "template": TEMPLATE, "constraint_version": CONSTRAINT_VERSION,
                "repair_version": REPAIR_VERSION}
    selector = DemoSelector(D, cfg.shots, cfg.demo_selection, cfg.seed)
    plan = []  # (input, demo indices, key)
    for x in X:
        idx = selector.select(x["id"], x["words"])
        key = sha256_text(json.dumps(
            {**common, "demos": [[D[i]["source"], D[i]["target"]] for i in idx],
             "input": x["source"], "words": x["words"]}, sort_keys=True, ensure_ascii=False))
        plan.append((x, idx, key))
    unique: dict[str, tuple] = {}
    for x, _idx, key in plan:
        unique.setdefault(key, (x, idx))
    # Outputs another command or run already paid for come from the shared store (store.py)
    # and are copied into this run's own cache, which stays complete on its own.
    from .store import Shared, Tee

    store = Shared(_warn) if cfg.shared_cache else None
    # an output that broke the constraint (a server that ignored the grammar) is not served
    # as a label: it is asked again
    for k in [k for k in unique if items.get(k, {}).get("broke_constraint")]:
        del items[k]
    shared = store.get_many(k for k in unique if k not in items) if store is not None else {}
    items.update(shared)
    # Outputs depend on which sequences share llama.cpp's batches, so the batches are a fixed
    # function of the whole plan (waves), never of what happens to be cached: a wave is
    # generated whole, cached members included, so a resumed run decodes exactly the batches
    # an uninterrupted one does and gives the same tokens.
    # (A server batches as it likes: requests are independent, waves of one.)
    waves = [w for w in plan_waves(unique, backend.wave_size(cfg))
             if any(k not in items for k in w)]
    todo = {k: unique[k] for w in waves for k in w}
    n_cached = sum(1 for _, _, k in plan if k in items and k not in todo)

    gen = {"generated": 0, "gen_tokens": 0, "gen_time_s": 0.0, "demos_dropped": 0}
    with JsonlAppender(cache_path) as run_app:
        app = Tee(run_app, store, backend.who())
        backend.remember(app, shas)
        for k, o in shared.items():
            run_app.append({"kind": "item", "key": k, "out": o})

        def record(key: str, out: dict) -> None:
            items[key] = out
            app.append({"kind": "item", "key": key, "out": out})

        if todo:
            gen = backend.generate(cfg, D, grammar, waves, unique, items, app, record, _warn)

    if store is not None:
        store.close()
    records = []
    for x, _idx, key in plan:
        o = items[key]
        # `logprob` / `n_tokens` are the public names; `logprob_mean` / `tokens` stay for
        # readers of earlier outputs (and the pipeline's filter baseline)
        # `output` is the model's raw text, `target` the tree students train on
        records.append({"id": x["id"], "source": x["source"], "words": x["words"], **o,
                        "output": o.get("output", o.get("target")),
                        "logprob": o.get("logprob_mean"), "n_tokens": o.get("tokens", 0),
                        "teacher": identity})
    broken = sum(1 for _, _, k in plan if items[k].get("broke_constraint"))
    if broken:
        share = broken / len(plan)
        msg = (f"{broken} of {len(plan)} outputs of {backend.who()} broke the constraint (not a tree over "
               "the words although the grammar was sent: does the server ignore it? see "
               "teacher.grammar); they are repaired, kept out of the caches' good labels and "
               "asked again by the next run")
        if share > cfg.max_broken:
            raise MckdError(f"{msg}; more than max_broken={cfg.max_broken:g} of them, so the "
                            "run stops")
        _warn(msg)
    counts = {"cached": n_cached, "broke_constraint": broken,
              "from_shared_cache": sum(1 for _, _, k in plan if k in shared and k not in todo),
              **gen, "model": name, "sha256": sha}
    return records, counts


def vote_records(runs: list[tuple[list[dict], dict]], cfg: TeacherConfig) -> list[dict]:
    """One record per input from the passes' records (in input order): `output` / `target` the
    consensus tree, `votes` what each pass wrote. Every span of the consensus was written by
    some pass; an input where no pass wrote a tree over its words keeps the first pass's
    output (so it scores as what the model wrote, not as a tree made up for it)."""
    out = []
    for recs in zip(*(r[0] for r in runs), strict=True):
        first = recs[0]
        assert all(r["id"] == first["id"] for r in recs)  # every pass labels X in order
        raw = [r["output"] for r in recs]
        tree, usable = vote(cfg.format, raw, first["words"], cfg.vote_threshold)
        tokens = sum(r.get("tokens", 0) for r in recs)
        rec = {**first, "tokens": tokens, "n_tokens": tokens,
               "teacher": {**first["teacher"], "samples": cfg.samples,
                           "vote_temperature": cfg.vote_temperature,
                           "vote_threshold": cfg.vote_threshold,
                           **({"vote_demo_words": cfg.vote_demo_words}
                              if cfg.vote_demo_words else {})}}
        rec["votes"] = {"outputs": raw, "usable": usable}
        if tree is not None:
            rec.update(output=tree, target=tree, valid=True, repaired=False, stop="vote")
            rec.pop("problems", None)
            rec.pop("raw", None)
        out.append(rec)
    return out


def _summary(records, passes: list[dict], cfg, out_path, cache_path, started) -> dict:
    from . import engine

    t_start, loads0, calls0 = started
    gen = {k: sum(p.get(k, 0) for p in passes)
           for k in ("generated", "gen_tokens", "gen_time_s", "demos_dropped", "cached",
                     "from_shared_cache", "broke_constraint")}
    gen["gen_time_s"] = round(gen["gen_time_s"], 3)
    threads = next((p["threads"] for p in passes if p.get("threads")), None)
    n = len(records)
    summary = {
        "count": n,
        "valid": sum(1 for r in records if r["valid"]),
        "repaired": sum(1 for r in records if r["repaired"]),
        "fallback": sum(1 for r in records if r.get("error")),
        "tokens": sum(r["tokens"] for r in records),
        **gen,
        **({"threads": threads} if threads else {}),
        **({"passes": len(passes)} if len(passes) > 1 else {}),
        "time_s": round(time.time() - t_start, 3),
        "tokens_per_s": (round(gen["gen_tokens"] / gen["gen_time_s"], 1)
                         if gen["gen_time_s"] else None),
        "model_loads": engine.STATS["model_loads"] - loads0,
        "decode_calls": engine.STATS["decode_calls"] - calls0,
        "model": passes[0]["model"], "sha256": passes[0]["sha256"], "out": str(out_path),
        "cache": str(cache_path),
    }
    if gen["gen_tokens"] and not cfg.url:  # what produced the outputs generated now
        summary["llama_cpp_build"] = engine.build_info()
    if cfg.progress:
        print(summary_line(summary), file=sys.stderr, flush=True)
    return summary


def plan_waves(unique: dict[str, tuple], parallel: int) -> list[list[str]]:
    """The plan's distinct keys in groups of `parallel` decoded together, similar lengths
    together (fewer idle slots while the longest sentence of a group finishes)."""
    order = sorted(unique, key=lambda k: (len(unique[k][0]["words"]), k))
    k = max(1, parallel)
    return [order[i:i + k] for i in range(0, len(order), k)]


def summary_line(s: dict) -> str:
    """One line for the end of a run: count, valid, repaired, tokens, time."""
    rate = f", {s['tokens_per_s']} tok/s" if s.get("tokens_per_s") else ""
    if s.get("threads"):
        rate += f" on {s['threads']} thread(s)"
    return (f"teacher {s['model']}: {s['count']} inputs, {s['valid']} valid, {s['repaired']} "
            f"repaired, {s['fallback']} fallback; {s['tokens']} tokens; {s['cached']} from "
            f"cache, {s['generated']} generated in {s['gen_time_s']:.1f}s{rate}; total "
            f"{s['time_s']:.1f}s -> {s['out']}")
