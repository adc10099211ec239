"""Turn planned inputs into llama.cpp jobs (prompts fitted to the context) and collect outputs."""

from __future__ import annotations

import sys
import time

from ..errors import MckdError
from .constraint import VocabIndex
from .engine import BatchDecoder, Job, LlamaModel, Result, all_cores, common_prefix_len
from .gguf import check_memory
from .prompt import PromptFormat, chat_format, plain_format

MIN_SHARED_PREFIX = 32  # tokens; below this a shared prefix sequence is not worth a slot


def budget_ratio(tokenize, demos: list[dict]) -> float:
    """Largest output/input token ratio among the demonstrations (tokenize: text -> ids)."""
    ratios = [len(tokenize(d["target"])) / max(1, len(tokenize(" " + d["source"])))
              for d in demos[:500]]
    return max(ratios) if ratios else 6.0


def output_budget(tokenize, ratio: float, source: str, fixed: int = 0) -> int:
    """Output token limit for one input: `fixed` if set, else ratio x input tokens + 25% + 16.

    A constrained tree that reaches it is closed deterministically (and marked repaired).
    """
    if fixed:
        return fixed
    return int(ratio * len(tokenize(" " + source)) * 1.25) + 16


def prompt_format(model: LlamaModel, cfg) -> PromptFormat:
    """The PromptFormat `cfg.prompt_format` names, for this model (chat: its own template)."""
    if cfg.prompt_format != "chat":
        return plain_format(cfg.instruction)
    template = model.chat_template()
    if not template:
        raise MckdError(f"{model.path}: this GGUF has no chat template "
                        "(tokenizer.chat_template); use prompt_format 'plain'")
    bos, eos = model.special_texts()
    return chat_format(template, cfg.instruction, bos, eos, strip_bos=model.add_bos)


def check_no_special(model: LlamaModel, texts) -> None:
    """Chat prompts parse special tokens: refuse an input or demonstration that spells one
    (`texts`: (where, text) pairs), rather than let it inject a turn."""
    for where, text in texts:
        if model.tokenize(text, add_bos=False, special=True) != model.tokenize(text, add_bos=False):
            raise MckdError(f"{where}: the text spells a special token of the model's chat "
                            "template; use prompt_format 'plain' for such data")


class _Prompts:
    """Token counts of demos and queries, and the fitting of demos into the context."""

    def __init__(self, model: LlamaModel, demos: list[dict], cfg, pf: PromptFormat):
        self.m, self.D, self.cfg, self.pf = model, demos, cfg, pf
        self._demo_tok: dict[int, int] = {}
        self.bos = 1 if model.add_bos else 0
        self._tok = lambda text: model.tokenize(text, add_bos=False)  # plain text: no specials
        self.tok = lambda text, bos=False: model.tokenize(text, add_bos=bos, special=pf.special)
        self.ratio = budget_ratio(self._tok, demos)
        self.head = len(self.tok(pf.demos(demos, [])))  # the instruction / system turn

    def max_new(self, source: str) -> int:
        return output_budget(self._tok, self.ratio, source, self.cfg.max_new_tokens)

    def demo_tokens(self, i: int) -> int:
        n = self._demo_tok.get(i)
        if n is None:
            d = self.D[i]
            n = self._demo_tok[i] = len(self.tok(self.pf.demo(d["source"], d["target"])))
        return n

    def text(self, idx: list[int], source: str) -> str:
        return self.pf.demos(self.D, idx) + self.pf.query(source)

    def fit(self, idx: list[int], source: str, max_new: int):
        """(tokens, demo indices kept) within n_ctx - max_new; demos dropped from the front.

        Returns (None, []) when the input alone does not fit.
        """
        budget = self.cfg.n_ctx - max_new
        q = len(self.tok(self.pf.query(source)))
        idx = list(idx)
        total = self.bos + q + self.head + sum(self.demo_tokens(i) for i in idx)
        while idx and total > budget:  # first by the per-block counts (cheap) ...
            total -= self.demo_tokens(idx.pop(0))
        while True:  # ... then exactly, since merges at block joins can shift a token or two
            toks = self.tok(self.text(idx, source), bos=None)
            if len(toks) <= budget:
                return toks, idx
            if not idx:
                return None, []
            idx.pop(0)


def _fallback(words: list[str], fmt: str, grammar, index, reason: str) -> dict:
    """Output for an input the teacher could not see: a flat tree, marked as such."""
    if grammar is not None:
        c = grammar.constraint(index, words)
        c.complete()
        target = c.output()
    else:
        target = ""
    # `output` is empty: the model wrote nothing, so every metric scores this input as a failure
    return {"target": target, "output": "", "valid": False, "repaired": True,
            "logprob_mean": None, "tokens": 0, "n_demos": 0, "stop": "overflow", "error": reason}


def generate_all(path, info, cfg, D, grammar, waves: list[list[str]], plan: dict, items: dict,
                 app, warn) -> dict:
    """Generate every key of `waves`, one wave (a fixed group of keys) at a time; `plan` maps
    every key of the whole job to (input, demo indices). Each output goes to `items` and the
    cache as it finishes; `warn` prints a warning line."""
    t0 = time.time()
    model = LlamaModel(path)
    try:
        threads = cfg.threads or all_cores()
        stats = _generate(model, info, cfg, D, grammar, waves, plan, items, app, t0, threads,
                          warn)
        stats["threads"] = threads
        return stats
    finally:
        model.close()


def _generate(model, info, cfg, D, grammar, waves, plan, items, app, t0, threads, warn) -> dict:
    fmt = cfg.format
    constrain = cfg.constrained and grammar is not None
    index = VocabIndex(model.pieces()) if constrain else None
    if cfg.n_ctx > model.n_ctx_train > 0:
        warn(f"n_ctx {cfg.n_ctx} exceeds the model's training context {model.n_ctx_train}")
    pf = prompt_format(model, cfg)
    if pf.special:
        check_no_special(model, [(f"demonstration {d.get('id', i)}", d["source"] + " " + d["target"])
                                 for i, d in enumerate(D)]
                         + [(f"input {x['id']}", x["source"]) for x, _ in plan.values()])
    P = _Prompts(model, D, cfg, pf)

    # sizes come from the whole plan, not from what is left to do, so a resumed run gets the
    # same context layout (and so the same numbers) as an uninterrupted one
    prefix: list[int] = []
    n_ctx_seq = cfg.n_ctx
    if cfg.demo_selection == "fixed" and len(plan) >= 2:
        _, idx = next(iter(plan.values()))
        prefix = P.tok(pf.demos(D, idx), bos=None)
        if len(prefix) < MIN_SHARED_PREFIX:
            prefix = []
        else:  # every prompt is this prefix + a query: size the per-sequence cache to that
            longest = max(len(P.tok(pf.query(x["source"]))) + P.max_new(x["source"])
                          for x, _ in plan.values())
            n_ctx_seq = min(cfg.n_ctx, len(prefix) + longest + 16)
    K = max(1, min(cfg.parallel, len(plan)))
    kv_tokens = (K + (1 if prefix else 0)) * n_ctx_seq  # an upper bound in either layout
    if cfg.check_memory:
        check_memory(info, kv_tokens, f" for {K} parallel sequences of {n_ctx_seq}")
    dec = BatchDecoder(model, n_parallel=K, n_ctx_seq=n_ctx_seq, n_threads=threads,
                       prefix_tokens=prefix, flash_attn=cfg.flash_attn,
                       unified=cfg.kv_unified, schedule=cfg.schedule)
    stats = {"generated": 0, "gen_tokens": 0, "gen_time_s": 0.0, "demos_dropped": 0}
    bar = None
    if cfg.progress:
        from tqdm import tqdm

        bar = tqdm(total=sum(len(w) for w in waves), file=sys.stderr, unit="sent", desc="teacher",
                   mininterval=0.5, dynamic_ncols=True)

    def record(key: str, out: dict) -> None:
        items[key] = out
        app.append({"kind": "item", "key": key, "out": out})
        stats["generated"] += 1
        stats["gen_tokens"] += out["tokens"]
        if bar is not None:
            el = time.time() - t0
            bar.set_postfix_str(f"{stats['gen_tokens'] / el:.0f} tok/s", refresh=False)
            bar.update(1)

    def jobs(wave):
        for key in wave:
            x, idx = plan[key]
            max_new = P.max_new(x["source"])
            toks, kept = P.fit(idx, x["source"], max_new)
            if toks is None:
                reason = (f"input {x['id']}: its prompt alone does not fit n_ctx {cfg.n_ctx} "
                          f"with {max_new} output tokens")
                warn(reason + "; recorded a flat fallback tree")
                record(key, _fallback(x["words"], fmt, grammar, index, reason))
                continue
            if len(kept) < len(idx):
                stats["demos_dropped"] += 1
                if stats["demos_dropped"] <= 3:
                    warn(f"input {x['id']}: kept {len(kept)} of {len(idx)} demonstrations to fit "
                         f"n_ctx {cfg.n_ctx}" + (" (further such warnings are counted in the "
                                                 "summary)" if stats["demos_dropped"] == 3 else ""))
            c = grammar.constraint(index, x["words"], heal=pf.heal) if constrain else None
            yield Job(key=key, tokens=toks, max_new=max_new,
                      prefix_len=common_prefix_len(toks, prefix) if prefix else 0,
                      constraint=c, heal=pf.heal.encode(), temperature=cfg.temperature,
                      seed=_job_seed(cfg.sampling_seed(), x["id"]),
                      meta={"words": x["words"], "n_demos": len(kept)})

    try:
        for wave in waves:
            for job, res in dec.generate(jobs(wave)):
                record(job.key, _output(job, res, grammar, constrain))
    finally:
        if bar is not None:
            bar.close()
        dec.close()
    stats["gen_time_s"] = round(time.time() - t0, 3)
    return stats


def _job_seed(seed: int, rec_id: str) -> int:
    import hashlib

    return int.from_bytes(hashlib.sha256(f"{seed}:{rec_id}".encode()).digest()[:8], "little")


def _output(job: Job, res: Result, grammar, constrained: bool) -> dict:
    words = job.meta["words"]
    if constrained:
        # a tree closed without the model (stuck, budget) keeps the model's own part in `output`
        out = {"target": res.text, "output": res.text if res.raw is None else res.raw,
               "valid": res.stop == "done", "repaired": res.stop != "done"}
        if res.stop != "done":
            out["problems"] = [f"generation stopped ({res.stop}); tree closed without the model"]
    elif grammar is not None:  # read by the format: repaired for training, raw kept
        out = grammar.check(res.text, words)
    else:
        out = {"target": res.text, "output": res.text, "valid": bool(res.text), "repaired": False}
    # mean over the tokens the model chose; tokens forced by the constraint carry no choice
    out["logprob_mean"] = round(res.logprob_sum / res.scored, 6) if res.scored else None
    out["tokens"] = res.tokens
    out["n_demos"] = job.meta["n_demos"]
    out["stop"] = res.stop
    return out
