"""The distill run's configuration: one dataclass tree, loadable from TOML, `key=value` overrides.

Precedence: preset < TOML file < command-line flags < `section.key=value` overrides.
"""

from __future__ import annotations

import ast
import dataclasses
import tomllib
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from .errors import MckdError


@dataclass
class DataConfig:
    labeled: int = 50            # gold examples drawn from train (demonstrations only)
    max_pool: int = 0            # cap on the unlabeled pool (0 = all of the rest of train)
    max_test: int = 0            # cap on the test split used for evaluation (0 = all)
    max_words: int = 0           # keep only sentences of at most this many words (0 = no limit)
    min_words: int = 1
    shortest_first: bool = False  # take the shortest sentences first when capping (demo preset)


@dataclass
class TeacherConfig:
    model: str = "smollm2"       # GGUF path or a short name of a packaged model
    shots: int = 30
    demo_selection: str = "random"  # random (paper) | fixed (shared, KV-cached prefix) | similar
    parallel: int = 8
    threads: int = 0             # 0 = all cores
    constrained: bool = True
    n_ctx: int = 4096


@dataclass
class StudentConfig:
    init: str = ""               # local HF seq2seq checkpoint to fine-tune ("" = from scratch)
    arch: str = "t5-micro"       # named from-scratch config; t5-small or larger on a GPU
    epochs: int = 0              # 0 = the trainer's default for the student kind
    device: str = "auto"
    overrides: dict[str, Any] = field(default_factory=dict)  # any other TrainConfig field


@dataclass
class BaselineConfig:
    sft_gold: bool = True        # student fine-tuned on the gold demonstrations only
    vanilla_kd: bool = True      # one student on the teacher's labels (= 1-stage MCKD)
    sd_filter: bool = False      # KD + self-distillation with a 50% log-prob filter


@dataclass
class DistillConfig:
    stages: int = 3              # N-stage MCKD = N-1 collaborative stages + the final stage
    format: str = "unlabeled"    # unlabeled | labeled | skeleton | text
    seed: int = 0
    quantization: str = "int8"   # CTranslate2 quantization of the exported students
    data: DataConfig = field(default_factory=DataConfig)
    teacher: TeacherConfig = field(default_factory=TeacherConfig)
    student: StudentConfig = field(default_factory=StudentConfig)
    baselines: BaselineConfig = field(default_factory=BaselineConfig)


PRESETS: dict[str, dict[str, Any]] = {
    # CPU-sized: fits in ~30 minutes on 2 cores with the 135M SmolLM2 teacher.
    "demo": {
        "stages": 3,
        "data.labeled": 50, "data.max_pool": 240, "data.max_test": 100,
        "data.max_words": 12, "data.min_words": 3, "data.shortest_first": False,
        "teacher.shots": 8, "teacher.demo_selection": "fixed", "teacher.parallel": 8,
        "student.arch": "t5-micro", "teacher.threads": 1,
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


def _coerce(value: str, target_type: Any, key: str) -> Any:
    if target_type is bool or isinstance(target_type, bool):
        low = value.lower()
        if low in ("1", "true", "yes", "on"):
            return True
        if low in ("0", "false", "no", "off"):
            return False
        raise MckdError(f"{key}: expected true/false, got {value!r}")
    if target_type is int:
        try:
            return int(value)
        except ValueError:
            raise MckdError(f"{key}: expected an integer, got {value!r}") from None
    if target_type is float:
        try:
            return float(value)
        except ValueError:
            raise MckdError(f"{key}: expected a number, got {value!r}") from None
    return value


def set_key(cfg: DistillConfig, key: str, value: Any) -> None:
    """Set `section.key` (or a top-level key) on cfg; strings are converted to the field's type."""
    parts = key.split(".")
    obj: Any = cfg
    for i, part in enumerate(parts):
        if isinstance(obj, dict):  # student.overrides.<k>
            obj[".".join(parts[i:])] = _literal(value) if isinstance(value, str) else value
            return
        names = {f.name: f for f in fields(obj)}
        if part not in names:
            if isinstance(obj, StudentConfig) and i == len(parts) - 1:
                # unknown student keys go to the trainer; it validates them against TrainConfig
                obj.overrides[part] = _literal(value) if isinstance(value, str) else value
                return
            raise MckdError(f"unknown setting {key!r} (known here: {', '.join(names)})")
        if i == len(parts) - 1:
            current = getattr(obj, part)
            if dataclasses.is_dataclass(current):
                raise MckdError(f"{key!r} is a section; set one of its keys ({key}.NAME=VALUE)")
            if isinstance(value, str) and not isinstance(current, str):
                value = _coerce(value, type(current), key)
            setattr(obj, part, value)
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


def validate(cfg: DistillConfig) -> None:
    if cfg.stages < 1:
        raise MckdError(f"stages must be >= 1, got {cfg.stages}")
    if cfg.format not in ("unlabeled", "labeled", "skeleton", "text"):
        raise MckdError(f"unknown format {cfg.format!r}")
    if cfg.data.labeled < 1:
        raise MckdError("data.labeled must be >= 1")
    if cfg.teacher.demo_selection not in ("random", "fixed", "similar"):
        raise MckdError(f"unknown teacher.demo_selection {cfg.teacher.demo_selection!r}")
    if cfg.quantization not in ("int8", "int8_float16", "float16", "float32", "bfloat16", "int8_bfloat16"):
        raise MckdError(f"unknown quantization {cfg.quantization!r}")


def to_dict(cfg: DistillConfig) -> dict[str, Any]:
    return asdict(cfg)
