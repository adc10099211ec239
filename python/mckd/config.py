"""The distill run's configuration: one dataclass tree, loadable from TOML, `key=value` overrides.

Precedence: preset < TOML file < command-line flags < `section.key=value` overrides.
"""

from __future__ import annotations

import ast
import dataclasses
import difflib
import sys
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from .errors import MckdError
from . import formats
from .formats import FORMATS
from .values import coerce, word_band  # noqa: F401  (coerce: re-exported)

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10: the same parser, as the `tomli` package (a declared dependency there)
    import tomli as tomllib


@dataclass
class DataConfig:
    labeled: int = 50            # gold examples drawn from train (demonstrations only)
    max_pool: int = 0            # cap on the unlabeled pool (0 = all of the rest of train)
    max_test: int = 0            # cap on the test split used for evaluation (0 = all)
    max_words: int = 0           # keep only sentences of at most this many words (0 = no limit)
    min_words: int = 1           # keep only sentences of at least this many words
    shortest_first: bool = False  # take the shortest sentences first when capping (demo preset)


@dataclass
class TeacherSettings:
    """What the teacher does: the one declaration of the settings `mckd distill` reads as its
    teacher section and `mckd teach` takes as flags. mckd.teacher.run.TeacherConfig adds what
    one call needs (format, seed, cache file, ...); TeacherConfig below adds the model."""

    shots: int = 30              # gold demonstrations in each prompt
    demo_selection: str = "random"  # random (paper) | fixed (shared, KV-cached prefix) | similar
    parallel: int = 8            # sentences decoded together (part of an output's identity)
    threads: int = 0             # CPU threads, 0 = all cores (outputs never depend on it)
    constrained: bool = True     # every output a tree over exactly the input words
    n_ctx: int = 4096            # llama.cpp context per sequence, in tokens
    # how llama_decode calls are filled (mckd.teacher.engine): level = one weight pass a call
    schedule: str = "level"
    instruction: str = ""        # a paragraph before the demonstrations ("" = the paper's prompt)
    prompt_format: str = "plain"  # plain (the paper's Input:/Output:) | chat (the model's template)
    # an OpenAI-compatible server (http://host:port: llama.cpp server, vLLM) instead of the
    # local GGUF
    url: str = ""
    server_model: str = ""       # the model to ask the server for ("" = the first it lists)
    # the environment variable holding the server's API key (the key is never written anywhere)
    api_key_env: str = "MCKD_TEACHER_API_KEY"
    concurrency: int = 8         # server requests in flight
    timeout_s: float = 300.0     # seconds a server request may take before it is retried
    retries: int = 4             # retries after connection errors, timeouts, 5xx, 429, bad replies
    # how a server is constrained: gbnf (llama.cpp's grammar field), vllm (its structured
    # outputs), none (free text, then repair); auto picks by what the server reports
    grammar: str = "auto"
    # share of a server pass's outputs that may break the grammar (the server ignored it)
    # before the run fails; such outputs are never served from a cache as good labels
    max_broken: float = 0.0
    # self-consistency (mckd.teacher.vote): `samples` more passes at `vote_temperature`; the
    # label is the consensus tree of all passes (spans with votes/(samples+1) > vote_threshold)
    samples: int = 0
    vote_temperature: float = 0.7  # the temperature the vote's samples are drawn at
    vote_threshold: float = 0.2  # a span is kept where votes / passes > this
    # "LO-HI": a greedy vote pass whose demonstrations are the gold examples of LO-HI words;
    # "auto" = the run's data.min_words-data.max_words band; "" = none
    vote_demo_words: str = ""

    def server(self):
        """The server settings (mckd.teacher.server.ServerSettings) of a URL teacher."""
        from .teacher.server import ServerSettings

        return ServerSettings(url=self.url, model=self.server_model, api_key_env=self.api_key_env,
                              concurrency=self.concurrency, timeout_s=self.timeout_s,
                              retries=self.retries, grammar=self.grammar)

    def settings(self) -> dict[str, Any]:
        """These settings alone (a subclass's own fields left out)."""
        return {f.name: getattr(self, f.name) for f in fields(TeacherSettings)}


@dataclass
class TeacherConfig(TeacherSettings):
    model: str = "smollm2"       # GGUF path or a short name of a packaged model


@dataclass
class StudentConfig:
    init: str = ""               # HF seq2seq/causal-LM folder, .gguf or short name ("" = scratch)
    arch: str = "t5-micro"       # named from-scratch config; t5-small or larger on a GPU
    epochs: int = 0              # 0 = the trainer's default for the student kind
    device: str = "auto"         # where students train (auto = cuda when there is one)
    # How exported students decode when they relabel: "auto" = constrained for decoder-only
    # students of tree formats (every output is a tree over the input, mckd.student.constrained), else
    # free greedy.
    decoding: str = "auto"
    # Who decodes under the constraint: "auto" = llama.cpp for decoder-only students that
    # `mckd export` also wrote as GGUF (every step's logits masked, the KV cache kept; speeds in
    # benchmarks/RESULTS.md, "Student speed"), CTranslate2 for everything else.
    engine: str = "auto"
    overrides: dict[str, Any] = field(default_factory=dict)  # any other TrainConfig field


@dataclass
class BaselineConfig:
    sft_gold: bool = True        # student fine-tuned on the gold demonstrations only
    # its epochs; 0 = auto: as many training examples as a stage student sees (student epochs x
    # half the pool), so the baseline is not undertrained
    sft_gold_epochs: int = 0
    vanilla_kd: bool = True      # one student on the teacher's labels (= 1-stage MCKD)
    sd_filter: bool = False      # KD + self-distillation with a 50% log-prob filter
    # not in the paper: every collaborative student and the final student vote each test tree
    # (mckd.teacher.vote), as `mckd parse A --with B ... --vote-threshold T` deploys them; a span
    # stays where votes / members > committee_threshold (its own setting: the share of voters
    # that is best depends on how many vote, so choose it on dev, not test)
    committee: bool = False
    committee_threshold: float = 0.2  # the committee keeps a span where votes / members > this
    # the SFT-on-gold student votes in the committee too: its errors are its own, which is what
    # a voter needs
    committee_sft_gold: bool = False


@dataclass
class DistillConfig:
    stages: int = 3              # N-stage MCKD = N-1 collaborative stages + the final stage
    format: str = "unlabeled"    # unlabeled | labeled | skeleton | chunks | basenp | text
    seed: int = 0                # every random choice derives from it (in the manifest)
    quantization: str = "int8"   # CTranslate2 quantization of the exported students
    # Stage k's labels of a half = the consensus (mckd.teacher.vote, at teacher.vote_threshold)
    # of the teacher's passes and the other student's relabel, not the relabel alone: the
    # student is one more voter, so spans it shares with a teacher pass win over a pass's own.
    # Not in the paper (its students' relabels replace the labels); format 'unlabeled' only.
    stage_vote: bool = False
    data: DataConfig = field(default_factory=DataConfig)
    teacher: TeacherConfig = field(default_factory=TeacherConfig)
    student: StudentConfig = field(default_factory=StudentConfig)
    baselines: BaselineConfig = field(default_factory=BaselineConfig)


# The real experiment on 2 cores (experiments/craft-cpu; the figures behind each choice are in
# EXPERIMENTS.md, "craft-cpu"): CRAFT sentences of 20-30 words, the band where the
# Qwen2.5-Coder-1.5B teacher beats right-branching; 10 fixed demonstrations in a cached prefix;
# 32 sentences per llama_decode wave (fewer tokens a call is this CPU's slow zone,
# benchmarks/RESULTS.md); pretrained decoder-only SmolLM2-135M students. Batches of 16, not the
# paper's 32: 3 epochs of 500-1,000 sentences are too few steps of 32, and 16 doubles the
# updates for the same compute.
_CRAFT_CPU: dict[str, Any] = {
    "stages": 3,
    "data.labeled": 50, "data.max_pool": 1000, "data.max_test": 500,
    "data.min_words": 20, "data.max_words": 30, "data.shortest_first": False,
    "teacher.model": "qwen2.5-coder-1.5b", "teacher.shots": 10,
    "teacher.demo_selection": "fixed", "teacher.parallel": 32, "teacher.n_ctx": 4096,
    "student.init": "smollm2", "student.epochs": 3, "student.batch_size": 16,
    "baselines.sd_filter": True,
    # its teacher steps were made with the older schedule; pinned so they stay current
    "teacher.schedule": "jump",
    # and its relabel steps with CTranslate2's constrained decoding (llama.cpp reads the same
    # weights with other arithmetic, so a near-tied token may differ): pinned likewise
    "student.engine": "ctranslate2",
}

PRESETS: dict[str, dict[str, Any]] = {
    # CPU-sized: fits in ~30 minutes on 2 cores with the 135M SmolLM2 teacher.
    "demo": {
        "stages": 3,
        "data.labeled": 50, "data.max_pool": 240, "data.max_test": 100,
        "data.max_words": 12, "data.min_words": 3, "data.shortest_first": False,
        "teacher.shots": 8, "teacher.demo_selection": "fixed", "teacher.parallel": 8,
        "student.arch": "t5-micro", "teacher.threads": 1,
    },
    "craft-cpu": _CRAFT_CPU,
    # craft-cpu with a voting teacher: its greedy pass (the committed craft-cpu outputs, reused
    # from the run's cache) and a greedy pass whose demonstrations are the gold trees of the
    # data's word band, consensus at threshold 0.2: on dev, the best teacher for one more pass
    # (EXPERIMENTS.md, "Prompt levers on the teacher"). Its stages hand on the consensus of the
    # teacher's two passes and the other student's relabels (stage_vote), which on the pool beat
    # either alone (EXPERIMENTS.md, "Two stage-1 levers on run-vote").
    "craft-cpu-vote": {
        **_CRAFT_CPU,
        "teacher.vote_demo_words": "auto", "teacher.vote_threshold": 0.2,
        "stage_vote": True,
        # and reports the committee of its students at the threshold chosen on dev sentences
        # (levers/committee/vote_dev.py: one vote of five)
        "baselines.committee": True, "baselines.committee_threshold": 0.1,
        # with the SFT-on-gold student as a further voter, which raised the committee on dev
        # (levers/gold_anchor/vote_dev.py; EXPERIMENTS.md, "The gold examples in the students")
        "baselines.committee_sft_gold": True,
    },
    # The tagging experiment on 2 cores (experiments/craft-chunks-cpu): the same CRAFT sentences
    # tagged with chunks derived from their gold trees (mckd.chunks). 30 fixed demonstrations
    # (the paper's count) in one cached prefix: a tag prompt is short, and more demonstrations
    # showed the teacher more of the chunk conventions (EXPERIMENTS.md, "craft-chunks-cpu").
    "craft-chunks-cpu": {
        **{k: v for k, v in _CRAFT_CPU.items() if k not in ("teacher.schedule", "student.engine")},
        "format": "chunks", "data.max_pool": 300, "data.max_test": 200,
        "teacher.shots": 30, "teacher.n_ctx": 8192,
        # the committee of the five students votes each word's tag (mckd.teacher.vote)
        "baselines.committee": True,
    },
    # The paper's settings: 30 random demonstrations per input, whole pool, T5-base students when
    # --init points at a T5-base checkpoint (from scratch: the larger GPU-sized config).
    "paper": {
        "stages": 3,
        "data.labeled": 50,
        "teacher.shots": 30, "teacher.demo_selection": "random",
        "student.arch": "t5-small", "student.epochs": 20,
        "baselines.sd_filter": True,
    },
}


_TYPE_WORDS = {bool: "true/false", int: "an integer", float: "a number", str: "a string"}


def _typed(value: Any, target_type: Any, key: str) -> Any:
    """`value` checked (and, from a string, converted) against a field type."""
    if isinstance(value, str) and target_type in (bool, int, float):
        return coerce(value, target_type, key)
    if target_type is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    ok = {bool: lambda v: isinstance(v, bool),
          int: lambda v: isinstance(v, int) and not isinstance(v, bool),
          float: lambda v: isinstance(v, float),
          str: lambda v: isinstance(v, str)}.get(target_type)
    if ok is not None and not ok(value):
        raise MckdError(f"{key}: expected {_TYPE_WORDS[target_type]}, got {value!r}")
    return value


_SIMPLE_TYPES = {t.__name__: t for t in (bool, int, float, str)}


def _field_types(obj: Any) -> dict[str, Any]:
    """Field name -> bool/int/float/str, or None for other types (not checked here).

    Read from the annotation text (strings under `from __future__ import annotations`), so a
    module's other annotations never need to be importable.
    """
    out = {}
    for f in fields(obj):
        name = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", "")
        out[f.name] = _SIMPLE_TYPES.get(name)
    return out


def _suggest(key: str, known: list[str]) -> str:
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    return f" (did you mean {close[0]}?)" if close else ""


def known_keys() -> list[str]:
    """Every `section.key` of the distill config (student.* also takes trainer settings)."""
    return list(_flatten(asdict(DistillConfig())))


def set_key(cfg: DistillConfig, key: str, value: Any) -> None:
    """Set `section.key` (or a top-level key) on cfg; strings are converted to the field's type."""
    parts = key.split(".")
    obj: Any = cfg
    for i, part in enumerate(parts):
        if isinstance(obj, dict):  # student.overrides.<k>
            obj[".".join(parts[i:])] = _literal(value) if isinstance(value, str) else value
            return
        types = _field_types(obj)
        if part not in types:
            if isinstance(obj, StudentConfig) and i == len(parts) - 1:
                # other student keys go to the trainer; validate() checks them against TrainConfig
                obj.overrides[part] = _literal(value) if isinstance(value, str) else value
                return
            raise MckdError(f"unknown setting {key!r}{_suggest(key, known_keys())} "
                            f"(known here: {', '.join(types)})")
        if i == len(parts) - 1:
            current = getattr(obj, part)
            if dataclasses.is_dataclass(current):
                raise MckdError(f"{key!r} is a section; set one of its keys ({key}.NAME=VALUE)")
            if isinstance(current, dict):
                if not isinstance(value, dict):
                    raise MckdError(f"{key}: expected a table of trainer settings, got {value!r}")
                setattr(obj, part, dict(value))
                return
            setattr(obj, part, _typed(value, types[part], key))
            return
        obj = getattr(obj, part)


def _literal(value: str) -> Any:
    try:
        return ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return value


def _flatten(d: dict, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and k != "overrides":
            out.update(_flatten(v, key + "."))
        else:
            out[key] = v
    return out


def load_config(preset: str | None = None, toml_path: str | None = None,
                overrides: list[str] | None = None, flags: dict[str, Any] | None = None
                ) -> DistillConfig:
    """Build the resolved config: preset, then TOML, then flags, then key=value overrides."""
    cfg = DistillConfig()
    if preset:
        if preset not in PRESETS:
            raise MckdError(f"unknown preset {preset!r} (known: {', '.join(PRESETS)})")
        for k, v in PRESETS[preset].items():
            set_key(cfg, k, v)
    if toml_path:
        p = Path(toml_path)
        try:
            doc = tomllib.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise MckdError(f"{p}: config file not found") from None
        except IsADirectoryError:
            raise MckdError(f"{p}: is a directory, expected a TOML config file") from None
        except UnicodeDecodeError as e:
            raise MckdError(f"{p}: invalid UTF-8 at byte {e.start}") from None
        except tomllib.TOMLDecodeError as e:
            raise MckdError(f"{p}: invalid TOML ({e})") from None
        for k, v in _flatten(doc).items():
            try:
                set_key(cfg, k, v)
            except MckdError as e:
                raise MckdError(f"{p}: {e}") from None
    for k, v in (flags or {}).items():
        if v is not None:
            set_key(cfg, k, v)
    for item in overrides or []:
        if "=" not in item:
            raise MckdError(f"override {item!r}: expected key=value (e.g. teacher.shots=10)")
        k, v = item.split("=", 1)
        set_key(cfg, k.strip().lstrip("-"), v.strip())
    validate(cfg)
    return cfg


# ----------------------------------------------------------------------------- validation
DEMO_SELECTIONS = ("random", "fixed", "similar")
DEVICES = ("auto", "cpu", "cuda")
# CTranslate2 weight types an exported student may use (the one list; `mckd export` reads it).
QUANTIZATIONS = ("int8", "int8_float16", "int8_float32", "int8_bfloat16", "float16", "bfloat16",
                 "float32")

CHOICES: dict[str, tuple[str, ...]] = {
    "format": FORMATS, "quantization": QUANTIZATIONS,
    "teacher.demo_selection": DEMO_SELECTIONS, "student.device": DEVICES,
    "teacher.grammar": ("auto", "gbnf", "vllm", "none"),
    "teacher.schedule": ("jump", "level"),
    "teacher.prompt_format": ("plain", "chat"),
    "student.decoding": ("auto", "constrained", "free"),
    "student.engine": ("auto", "ctranslate2", "llama.cpp"),
}
# key -> (smallest allowed value, what the boundary means)
MINIMUM: dict[str, tuple[int, str]] = {
    "stages": (1, "1 = vanilla KD"),
    "data.labeled": (1, "gold demonstrations"),
    "data.max_pool": (0, "0 = all of the rest of train"),
    "data.max_test": (0, "0 = the whole test split"),
    "data.max_words": (0, "0 = no limit"),
    "data.min_words": (1, "words per sentence"),
    "teacher.shots": (1, "demonstrations per prompt"),
    "teacher.parallel": (1, "sequences per batch"),
    "teacher.threads": (0, "0 = all cores"),
    "teacher.n_ctx": (1, "tokens of context"),
    "teacher.concurrency": (1, "server requests in flight"),
    "teacher.retries": (0, "0 = no retry"),
    "teacher.samples": (0, "0 = one pass, no vote"),
    "student.epochs": (0, "0 = the trainer's default"),
    "baselines.sft_gold_epochs": (0, "0 = auto: as many examples as a stage student"),
}
# Trainer fields the pipeline sets itself for every student: overriding them would be ignored
# or would contradict the run's own setting.
_PIPELINE_SET = {"format": "format", "seed": "seed", "init": "student.init",
                 "arch": "student.arch", "epochs": "student.epochs", "device": "student.device"}


def _trainer_types() -> dict[str, Any]:
    """TrainConfig field -> type (imported late: mckd.student.config reads this module)."""
    from .student.config import TrainConfig

    return _field_types(TrainConfig)


def _leaves(obj: Any, prefix: str = ""):
    """(key, value, type) of every non-section field."""
    for name, typ in _field_types(obj).items():
        value = getattr(obj, name)
        if dataclasses.is_dataclass(value):
            yield from _leaves(value, f"{prefix}{name}.")
        else:
            yield f"{prefix}{name}", value, typ


def validate(cfg: DistillConfig) -> None:
    """Check every setting before the first step. Every problem is found, not only the first:
    each is one line naming key and value, all of them in one MckdError.

    Also converts `student.overrides` to the trainer's field types in place.
    """
    problems: list[str] = []

    def check(fn, *args) -> None:
        try:
            fn(*args)
        except MckdError as e:
            problems.append(str(e))

    mistyped = False
    for key, value, typ in _leaves(cfg):
        try:
            _typed(value, typ, key)
        except MckdError as e:
            problems.append(str(e))
            mistyped = True
            continue
        if key in CHOICES and value not in CHOICES[key]:
            problems.append(f"{key}={value!r} is not one of {', '.join(CHOICES[key])}"
                            f"{_suggest(str(value), list(CHOICES[key]))}")
        if key in MINIMUM and value < MINIMUM[key][0]:
            low, meaning = MINIMUM[key]
            problems.append(f"{key} must be >= {low} ({meaning}), got {value}")
    if mistyped:  # the checks below read the values as their types
        _raise(problems)
    d = cfg.data
    if d.max_words > 0 and d.min_words >= 1 and d.min_words > d.max_words:
        problems.append(f"data.min_words={d.min_words} is above data.max_words={d.max_words}: "
                        "no sentence would fit")
    t = cfg.teacher
    # every setting that votes trees (mckd.teacher.vote), first one named
    voting = [how for on, how in ((t.samples, f"teacher.samples={t.samples}"),
                                  (t.vote_demo_words,
                                   f"teacher.vote_demo_words={t.vote_demo_words!r}"),
                                  (cfg.stage_vote, "stage_vote=true"),
                                  (cfg.baselines.committee, "baselines.committee=true")) if on]
    if voting and cfg.format in FORMATS and not formats.get(cfg.format).votes:
        problems.append(f"{voting[0]}: voting works on format 'unlabeled' and the tag formats, "
                        f"not {cfg.format!r} (a consensus tree carries no labels)")
    if cfg.baselines.committee_sft_gold and not (cfg.baselines.committee
                                                 and cfg.baselines.sft_gold):
        problems.append("baselines.committee_sft_gold=true puts the SFT-on-gold student in the "
                        "committee: it needs baselines.committee=true and baselines.sft_gold=true")
    if cfg.baselines.committee and cfg.stages < 2:
        problems.append("baselines.committee=true: a committee votes the trees of the stage "
                        f"students and needs stages >= 2 (stages={cfg.stages})")
    if t.vote_demo_words == "auto" and not d.max_words:
        problems.append("teacher.vote_demo_words='auto' needs data.max_words (the band is "
                        "data.min_words-data.max_words)")
    if t.vote_demo_words not in ("", "auto"):
        check(word_band, t.vote_demo_words, "teacher.vote_demo_words")
    if t.vote_temperature <= 0:
        problems.append(f"teacher.vote_temperature must be > 0, got {t.vote_temperature}")
    if not 0 <= t.vote_threshold < 1:
        problems.append(f"teacher.vote_threshold must be in [0, 1), got {t.vote_threshold}")
    if not 0 <= cfg.baselines.committee_threshold < 1:
        problems.append("baselines.committee_threshold must be in [0, 1), got "
                        f"{cfg.baselines.committee_threshold}")
    check(_check_student, cfg, problems)
    if cfg.teacher.url:
        from .teacher.server import Client

        if cfg.teacher.timeout_s <= 0:
            problems.append(f"teacher.timeout_s must be > 0, got {cfg.teacher.timeout_s}")
        else:
            check(Client, server_settings(cfg.teacher))  # the URL's form
        if not 0 <= cfg.teacher.max_broken <= 1:
            problems.append("teacher.max_broken must be a share in [0, 1], got "
                            f"{cfg.teacher.max_broken}")
    if problems:
        _raise(problems)
    # teacher.model is not checked here: a run continued from its committed teacher steps needs
    # no teacher file (the distiller checks it before the first step of a run that does)


def _raise(problems: list[str]) -> None:
    if len(problems) == 1:
        raise MckdError(problems[0])
    raise MckdError(f"{len(problems)} problems in the settings:\n"
                    + "\n".join(f"  {p}" for p in problems))


def server_settings(t: TeacherSettings):
    """The server settings of a URL teacher (mckd.teacher.server.ServerSettings)."""
    return t.server()


def _check_student(cfg: DistillConfig, problems: list[str]) -> None:
    """The student's settings; each problem joins `problems` (the trainer's own checks run
    last, and only when the rest is clean: they read the overrides as typed)."""
    from .student.models import ARCHS

    s = cfg.student
    if s.arch not in ARCHS:
        problems.append(f"student.arch={s.arch!r} is not one of {', '.join(ARCHS)}"
                        f"{_suggest(s.arch, list(ARCHS))}")
    if s.init and not Path(s.init).is_dir():  # else a .gguf file or a packaged short name
        from .student.causal import check_init_spec

        try:
            check_init_spec(s.init, "student.init")
        except MckdError as e:
            problems.append(str(e))
    types = _trainer_types()
    student_keys = [f"student.{k}" for k in _field_types(StudentConfig) if k != "overrides"]
    for k in list(s.overrides):
        key = f"student.{k}"
        if k in _PIPELINE_SET:
            problems.append(f"{key}: set {_PIPELINE_SET[k]} instead (the pipeline sets the "
                            "trainer's copy for every student)")
        elif k not in types:
            problems.append(f"unknown setting {key}={s.overrides[k]!r}"
                            f"{_suggest(key, student_keys + [f'student.{t}' for t in types])}; "
                            f"student keys are {', '.join(student_keys)} or a trainer setting "
                            f"({', '.join(t for t in types if t not in _PIPELINE_SET)})")
        else:
            try:
                s.overrides[k] = _typed(s.overrides[k], types[k], key)
            except MckdError as e:
                problems.append(str(e))
    if not problems:  # else its errors would repeat the ones found (format, arch, ...)
        try:
            _check_trainer(cfg)
        except MckdError as e:
            problems.append(str(e))


def train_config(cfg: DistillConfig, seed: int | None = None):
    """The trainer settings (mckd.student.config.TrainConfig) of the run's students: the one
    place they are built from the run's settings. `seed`: a student's own (default: the run's).
    The overrides were checked by validate (no unknown field, none the pipeline sets)."""
    from .student.config import TrainConfig

    s = cfg.student
    kw = {"format": cfg.format, "seed": cfg.seed if seed is None else seed, "device": s.device,
          **s.overrides}
    kw.update({"init": s.init} if s.init else {"arch": s.arch})
    if s.epochs:
        kw["epochs"] = s.epochs
    return TrainConfig(**kw)


def _check_trainer(cfg: DistillConfig) -> None:
    """Let the trainer's own checks (stop rule, batch sizes, ...) run now, not after the teacher."""
    try:
        train_config(cfg).resolved()
    except MckdError as e:
        raise MckdError(f"student settings: {e}") from None


def to_dict(cfg: DistillConfig) -> dict[str, Any]:
    return asdict(cfg)
