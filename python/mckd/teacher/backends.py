"""Teacher backends: where the teacher's outputs come from.

`run_teacher` (teacher/run.py) plans the prompts, keys every output, serves what a cache holds and
hands the rest to a backend. A backend says who it is (what enters every output's cache key, and
the label records' `teacher` identity), how many prompts it decodes together, and generates.

    llama.cpp   a local GGUF, in-process (teacher/engine.py, generate.py)
    server      an OpenAI-compatible completions server (teacher/server.py)

A new backend is one class here (or in its own module) and one `register` call; `TeacherConfig
.backend` picks it ("auto": server when a URL is set, else llama.cpp). tests/test_teacher_server.py
registers a test backend.
"""

from __future__ import annotations

from pathlib import Path
from collections.abc import Callable

from ..errors import MckdError


class Backend:
    """One teacher backend, opened for one `run_teacher` call."""

    name = ""   # registry name (TeacherConfig.backend)
    # Teacher settings that do not change what this backend writes: left out of a run's teacher
    # step fingerprint (mckd distill), so changing one re-runs nothing. The thread count changes
    # speed only (outputs measured identical); the other backends' settings mean nothing here.
    not_in_outputs: tuple[str, ...] = ("threads",)

    def __init__(self, cfg, model_path) -> None:
        self.cfg = cfg

    def describe(self, cfg, shas: dict) -> tuple[dict, dict]:
        """(what enters every output's key beside the prompt and decoding settings, what the
        label records' `teacher` identity holds of the backend). Sets `self.model` (a name)
        and `self.sha256` (the model's content hash, None where there is none)."""
        raise NotImplementedError

    def wave_size(self, cfg) -> int:
        """Prompts generated together: outputs may depend on which share a batch, so the
        batches are a fixed function of the plan (teacher/run.py, plan_waves)."""
        return 1

    def who(self) -> str:
        """Who wrote the outputs, for the shared cache's listing (`mckd cache`)."""
        return self.model

    def remember(self, app, shas: dict) -> None:
        """Write what the next call needs to skip work (a model's hash) into the run's cache."""

    def generate(self, cfg, D, grammar, waves: list[list[str]], plan: dict, items: dict, app,
                 record: Callable[[str, dict], None], warn) -> dict:
        """Generate every key of `waves` (plan: key -> (input, demo indices)); each output goes
        through `record(key, out)` the moment it is finished. Returns the pass's counts."""
        raise NotImplementedError


BACKENDS: dict[str, type[Backend]] = {}


def register(cls: type[Backend]) -> type[Backend]:
    """Make a backend available under `cls.name` (usable as a class decorator)."""
    if not cls.name:
        raise ValueError(f"{cls.__name__}: a backend needs a name")
    BACKENDS[cls.name] = cls
    return cls


def backend_class(cfg) -> type[Backend]:
    """The backend `cfg.backend` names ("auto", or a config without the field, such as
    `mckd distill`'s: server when cfg.url is set, else llama.cpp)."""
    name = getattr(cfg, "backend", "auto")
    if name == "auto":
        name = "server" if cfg.url else "llama.cpp"
    if name not in BACKENDS:
        raise MckdError(f"teacher backend {name!r}: expected one of {', '.join(BACKENDS)}")
    return BACKENDS[name]


def open_backend(cfg, model_path) -> Backend:
    """The backend `cfg.backend` names, opened for one `run_teacher` call."""
    return backend_class(cfg)(cfg, model_path)


# what reaches a server and how (the key's variable, concurrency, timeouts) and whether a run
# fails on broken replies: none of it changes what a teacher writes
_SERVER = ("url", "server_model", "api_key_env", "concurrency", "timeout_s", "retries",
           "grammar", "max_broken")
_TRANSPORT = ("api_key_env", "concurrency", "timeout_s", "retries", "max_broken")


def _model_id(path: Path) -> tuple:
    st = path.stat()
    return (str(path.resolve()), st.st_size, st.st_mtime_ns)


@register
class LlamaCpp(Backend):
    """A local GGUF through llama.cpp, in this process."""

    name = "llama.cpp"
    not_in_outputs = Backend.not_in_outputs + _SERVER

    def __init__(self, cfg, model_path) -> None:
        from .gguf import check_gguf
        from .models import resolve_model

        super().__init__(cfg, model_path)
        self.path = resolve_model(model_path)
        self.info = check_gguf(self.path)

    def describe(self, cfg, shas: dict) -> tuple[dict, dict]:
        from ..jsonio import sha256_file
        from .models import verified_sha256

        self.mid = _model_id(self.path)
        self.sha256 = shas.get(self.mid) or verified_sha256(self.path) or sha256_file(self.path)
        self.model = self.path.name
        # llama.cpp's batched kernels round differently with the batch's make-up, which flips
        # near-tied greedy choices: measured, 1 of 16 SmolLM2 outputs changed between parallel
        # 1 and 8. So the settings that shape batches and the KV layout are part of an output's
        # identity; the thread count is not (outputs measured identical).
        key = {"model": self.sha256, "n_ctx": cfg.n_ctx, "parallel": cfg.parallel,
               "kv_unified": cfg.kv_unified, "flash_attn": cfg.flash_attn}
        if cfg.schedule != "jump":  # the older schedule's keys stay what they were
            key["schedule"] = cfg.schedule
        return key, {"n_ctx": cfg.n_ctx, "parallel": cfg.parallel}

    def wave_size(self, cfg) -> int:
        return cfg.parallel

    def who(self) -> str:
        return f"{self.model} {self.sha256[:12]}"

    def remember(self, app, shas: dict) -> None:
        if self.mid not in shas:  # hashing a 1 GB GGUF costs seconds: once per file version
            app.append({"kind": "model", "path": self.mid[0], "size": self.mid[1],
                        "mtime_ns": self.mid[2], "sha256": self.sha256})
            shas[self.mid] = self.sha256

    def generate(self, cfg, D, grammar, waves, plan, items, app, record, warn) -> dict:
        from .generate import generate_all

        return generate_all(self.path, self.info, cfg, D, grammar, waves, plan, items, app, warn)


@register
class Server(Backend):
    """An OpenAI-compatible completions server (llama.cpp server, vLLM)."""

    name = "server"
    # the server's identity stands in for the model file; llama.cpp's batching settings are
    # the server's own
    not_in_outputs = Backend.not_in_outputs + ("model", "parallel", "n_ctx", "schedule") \
        + _TRANSPORT

    def __init__(self, cfg, model_path) -> None:
        from .server import Client

        super().__init__(cfg, model_path)
        self.client = Client(cfg.server())
        self.sha256 = None

    def describe(self, cfg, shas: dict) -> tuple[dict, dict]:
        # the server's identity: its URL, the model name and what it reports of the model
        self.ident = self.client.identity()
        self.model = self.ident["model"]
        return ({"server": self.ident, "grammar": self.client.grammar_mode(self.ident)},
                {"server": self.ident})

    def who(self) -> str:
        return f"{self.model} @ {self.cfg.url}"

    def generate(self, cfg, D, grammar, waves, plan, items, app, record, warn) -> dict:
        from .server import generate_server

        todo = {k: plan[k] for w in waves for k in w}
        return generate_server(self.client, self.ident, cfg, D, grammar, todo, record,
                               cfg.progress)
