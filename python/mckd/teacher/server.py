"""A teacher behind an OpenAI-compatible completions server (llama.cpp server, llama-cpp-python's
server, vLLM): the same few-shot prompts, many requests in flight, retries, a per-input grammar.

Standard library only (urllib + threads): the requests are plain JSON POSTs, and the work is the
server's. Every finished output goes to the caller's cache as it arrives (`record`), so a killed
or failed run loses only the requests in flight.
"""

from __future__ import annotations

import http.client
import json
import os
import queue
import random
import socket
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass

from ..errors import MckdError
from .prompt import HEAL, demos_text, query_text

GRAMMAR_MODES = ("auto", "gbnf", "vllm", "none")
DEFAULT_KEY_ENV = "MCKD_TEACHER_API_KEY"


@dataclass
class ServerSettings:
    """How to reach and drive the server (teacher.url, teacher.concurrency, ...)."""
    url: str
    model: str = ""                 # "" = the first model the server lists
    api_key_env: str = DEFAULT_KEY_ENV  # the key is read from this variable, never stored
    concurrency: int = 8            # requests in flight
    timeout_s: float = 300.0        # per request
    retries: int = 4                # after the first try, on connection errors / 5xx / 429
    grammar: str = "auto"           # auto | gbnf (llama.cpp) | vllm | none (repair afterwards)


class ServerError(MckdError):
    """A request that failed for good (after retries, or at once for a client error)."""


def _retryable(code: int | None) -> bool:
    return code is None or code == 429 or code >= 500


class Client:
    """JSON over HTTP to one server, with retries and backoff."""

    def __init__(self, s: ServerSettings):
        if s.grammar not in GRAMMAR_MODES:
            raise MckdError(f"teacher.grammar={s.grammar!r}: expected one of "
                            f"{', '.join(GRAMMAR_MODES)}")
        if s.concurrency < 1 or s.retries < 0 or s.timeout_s <= 0:
            raise MckdError("teacher.concurrency must be >= 1, teacher.retries >= 0 and "
                            "teacher.timeout_s > 0")
        self.s = s
        self.base = s.url.rstrip("/")
        if self.base.endswith("/v1"):
            self.base = self.base[:-3]
        if not self.base.startswith(("http://", "https://")):
            raise MckdError(f"teacher.url {s.url!r}: expected http://host:port or https://...")
        # a malformed address fails here, once, not as five retried "connection refused"
        try:
            parts = urllib.parse.urlsplit(self.base)
            port = parts.port  # ValueError when out of range or not a number
        except ValueError as e:
            raise MckdError(f"teacher.url {s.url!r}: {e}") from None
        if not parts.hostname:
            raise MckdError(f"teacher.url {s.url!r}: no host")
        if port == 0:
            raise MckdError(f"teacher.url {s.url!r}: port 0 is not a server's port")
        self.key = os.environ.get(s.api_key_env, "") if s.api_key_env else ""

    def _once(self, method: str, path: str, body: dict | None) -> dict:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method)
        req.add_header("Content-Type", "application/json")
        if self.key:
            req.add_header("Authorization", f"Bearer {self.key}")
        with urllib.request.urlopen(req, timeout=self.s.timeout_s) as r:
            return json.loads(r.read().decode("utf-8"))

    def call(self, method: str, path: str, body: dict | None = None, what: str = "",
             check=None) -> dict:
        """One request; retried with exponential backoff on connection errors, timeouts, 5xx,
        429 and replies that arrive broken (cut off, not UTF-8, not JSON, or refused by
        `check`, which raises ValueError naming what is wrong); a client error (401, 403,
        other 4xx) fails at once with the server's words."""
        where = f"teacher server {self.base}{path}" + (f" ({what})" if what else "")
        last = ""
        for attempt in range(self.s.retries + 1):
            code = None
            try:
                reply = self._once(method, path, body)
                if check is not None:
                    check(reply)
                return reply
            except urllib.error.HTTPError as e:
                code = e.code
                detail = e.read()[:500].decode("utf-8", "replace").strip()
                last = f"HTTP {e.code}: {detail or e.reason}"
                if code in (401, 403):
                    how = (f"${self.s.api_key_env} is set but was refused" if self.key else
                           f"set the key in ${self.s.api_key_env}")
                    raise ServerError(f"{where}: the server refused the API key ({last}); "
                                      f"{how}") from None
                if not _retryable(code):
                    raise ServerError(f"{where}: {last}") from None
            except (urllib.error.URLError, TimeoutError, ConnectionError) as e:
                reason = getattr(e, "reason", e)
                last = (f"no reply within {self.s.timeout_s:g}s"
                        if isinstance(reason, (socket.timeout, TimeoutError)) else
                        f"cannot connect ({reason})")
            except json.JSONDecodeError as e:
                last = f"reply is not JSON ({e})"
            except http.client.IncompleteRead as e:
                last = f"reply cut off after {len(e.partial)} bytes"
            except http.client.HTTPException as e:  # a malformed status line or headers
                last = f"broken reply ({type(e).__name__}: {e})"
            except UnicodeDecodeError as e:
                last = f"reply is not UTF-8 (byte {e.start})"
            except ValueError as e:  # from check: JSON, but not the reply asked for
                last = str(e)
            if attempt < self.s.retries:
                time.sleep(min(30.0, 0.5 * 2 ** attempt) * (1 + 0.25 * random.random()))
        raise ServerError(f"{where}: {last} (gave up after {self.s.retries + 1} tries)")

    def identity(self) -> dict:
        """What the server says it serves: the model entry of GET /v1/models (its `id`, and
        the size / parameter count / context a llama.cpp server adds), with the URL."""
        r = self.call("GET", "/v1/models", what="list models")
        models = r.get("data") or []
        if not models:
            raise ServerError(f"teacher server {self.base}: /v1/models lists no model")
        entry = next((m for m in models if m.get("id") == self.s.model), None) \
            if self.s.model else models[0]
        if entry is None:
            have = ", ".join(str(m.get("id")) for m in models)
            raise ServerError(f"teacher server {self.base}: no model {self.s.model!r} "
                              f"(it serves: {have})")
        entry = {k: v for k, v in entry.items() if k not in ("created", "permission",
                                                              "permissions")}
        return {"url": self.base, "model": entry.get("id"), "reported": entry}

    def grammar_mode(self, identity: dict) -> str:
        """`auto`: vLLM's grammar field for a vLLM server, llama.cpp's GBNF otherwise."""
        if self.s.grammar != "auto":
            return self.s.grammar
        return "vllm" if identity["reported"].get("owned_by") == "vllm" else "gbnf"


def _completion_check(r) -> None:
    """A completion reply must carry its text as a string (a proxy's `"text": null` or a
    missing choice is retried like a cut-off reply, never taken as an output)."""
    try:
        text = r["choices"][0]["text"]
    except (KeyError, IndexError, TypeError):
        raise ValueError(f"reply has no choices[0].text: {json.dumps(r)[:300]}") from None
    if not isinstance(text, str):
        raise ValueError(f"reply's choices[0].text is {type(text).__name__}, not text: "
                         f"{json.dumps(r)[:300]}")


def complete(client: Client, model: str, prompt: str, max_tokens: int, grammar: str | None,
             mode: str, temperature: float, seed: int, what: str) -> dict:
    """One completion: (text, completion tokens, mean log-prob of its tokens or None)."""
    body = {"model": model, "prompt": prompt, "max_tokens": max_tokens,
            "temperature": temperature, "seed": seed, "logprobs": 1}
    if grammar is not None and mode == "gbnf":
        body["grammar"] = grammar
    elif grammar is not None and mode == "vllm":
        # vLLM >= 0.10 reads structured_outputs; older releases read guided_grammar
        body["structured_outputs"] = {"grammar": grammar}
        body["guided_grammar"] = grammar
    else:
        body["stop"] = ["\n"]
    r = client.call("POST", "/v1/completions", body, what, check=_completion_check)
    choice = r["choices"][0]
    text = choice["text"]
    lps = ((choice.get("logprobs") or {}).get("token_logprobs") or [])
    lps = [x for x in lps if isinstance(x, (int, float))]
    n = (r.get("usage") or {}).get("completion_tokens") or len(lps)
    return {"text": text, "tokens": int(n or 0),
            "logprob_mean": round(sum(lps) / len(lps), 6) if lps else None,
            "finish": choice.get("finish_reason")}


def generate_server(client: Client, identity: dict, cfg, D, grammar, todo: dict, record,
                    progress: bool) -> dict:
    """Label every key of `todo` (key -> (input, demo indices)) through the server; each
    output is handed to `record(key, out)` as it arrives."""
    mode = client.grammar_mode(identity) if (cfg.constrained and grammar is not None) else "none"
    model = identity["model"]
    t0 = time.time()
    stats = {"generated": 0, "gen_tokens": 0, "gen_time_s": 0.0, "demos_dropped": 0,
             "grammar": mode, "concurrency": client.s.concurrency}
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(todo), file=sys.stderr, unit="sent", desc="teacher", mininterval=0.5,
                   dynamic_ncols=True)

    def one(key: str) -> tuple[str, dict]:
        x, idx = todo[key]
        prompt = demos_text(D, idx, cfg.instruction) + query_text(x["source"])
        g = grammar.gbnf(x["words"], HEAL) if mode != "none" else None
        # a tree of n words needs ~4 tokens a word in the unlabeled format; labels add more
        max_tokens = cfg.max_new_tokens or (12 * len(x["words"]) + 32)
        r = complete(client, model, prompt, max_tokens, g, mode, cfg.temperature,
                     _seed(cfg.sampling_seed(), x["id"]), f"input {x['id']}")
        text = r["text"]
        if text.startswith(HEAL):
            text = text[len(HEAL):]
        raw = text.split("\n", 1)[0].strip()
        if grammar is not None:
            out = grammar.check(raw, x["words"])
        else:
            out = {"target": raw, "output": raw, "valid": bool(raw), "repaired": False}
        out.update({"logprob_mean": r["logprob_mean"], "tokens": r["tokens"],
                    "n_demos": len(idx), "stop": r["finish"] or "done"})
        if mode != "none" and not out["valid"] and r["finish"] != "length":
            # a grammar-constrained reply that is not a tree (and was not cut by max_tokens):
            # the server ignored the grammar
            out["broke_constraint"] = True
        return key, out

    # keep `concurrency` requests in flight; after a request fails for good, start no more,
    # but record every one still in flight that succeeds (nothing finished is thrown away).
    # Daemon threads, not a ThreadPoolExecutor: on Ctrl-C the run stops at once with what
    # finished recorded, instead of waiting (up to timeout_s) for the requests in flight.
    keys = iter(list(todo))
    take = threading.Lock()
    stop = threading.Event()
    results: queue.Queue = queue.Queue()

    def worker() -> None:
        while not stop.is_set():
            with take:
                k = next(keys, None)
            if k is None:
                return
            try:
                results.put((one(k), None))
            except BaseException as e:  # noqa: BLE001 - handed to the main thread
                results.put((None, e))

    workers = [threading.Thread(target=worker, daemon=True, name=f"teacher-request-{i}")
               for i in range(min(client.s.concurrency, len(todo)))]
    for t in workers:
        t.start()
    error: MckdError | None = None
    try:
        while True:
            try:
                done, exc = results.get(timeout=0.2)
            except queue.Empty:
                if results.empty() and not any(t.is_alive() for t in workers):
                    break
                continue
            if exc is not None:
                stop.set()
                error = error or (exc if isinstance(exc, MckdError) else MckdError(
                    f"teacher server {client.base}: {type(exc).__name__}: {exc}"))
                continue
            key, out = done
            record(key, out)
            stats["generated"] += 1
            stats["gen_tokens"] += out["tokens"]
            if bar is not None:
                bar.update(1)
    finally:
        stop.set()  # Ctrl-C or an error: no request is started after this
        if bar is not None:
            bar.close()
    if error is not None:
        raise MckdError(f"{error} -- {stats['generated']} outputs of this run are in the cache; "
                        "run the same command again to resume") from None
    stats["gen_time_s"] = round(time.time() - t0, 3)
    return stats


def _seed(seed: int, rec_id: str) -> int:
    import hashlib

    return int.from_bytes(hashlib.sha256(f"{seed}:{rec_id}".encode()).digest()[:4], "little")
