"""Compatibility with runs made by older code, in one place.

A run directory's steps are current while their fingerprints match what today's settings give
them. A setting added since a run was made must not change those fingerprints at the value the
run had in effect, and a manifest written before the setting existed is read with that value.
Every such rule lives here, and tests/test_compat.py holds each to a recorded fingerprint.
"""

from __future__ import annotations

from typing import Any

from ..config import DistillConfig, _flatten, set_key

# Teacher settings added after runs were committed, with the value those runs had in effect: at
# that value a setting stays out of the teacher step's fingerprint (so adding it re-ran nothing),
# and a manifest written before it existed is read with it (config_from_manifest).
TEACHER_ADDED_LATER: dict[str, Any] = {"schedule": "jump", "instruction": "",
                                       "prompt_format": "plain", "samples": 0,
                                       "vote_demo_words": ""}


# Student settings likewise: before the setting existed, students decoded with CTranslate2.
STUDENT_ADDED_LATER: dict[str, Any] = {"engine": "ctranslate2"}


def config_from_manifest(doc: dict) -> DistillConfig:
    """The config a run's manifest.json recorded (its "config" section).

    A setting added since the manifest was written is absent from it; where today's default
    would change what that run did, it takes the value the run had in effect, so an older run's
    finished steps stay current (`mckd report` walks the run under these settings).
    """
    from ..student.config import TrainConfig

    flat = _flatten(doc)
    cfg = DistillConfig()
    for k, v in TEACHER_ADDED_LATER.items():
        set_key(cfg, f"teacher.{k}", v)
    for k, v in STUDENT_ADDED_LATER.items():
        set_key(cfg, f"student.{k}", v)
    for k, v in flat.items():
        set_key(cfg, k, v)
    if "baselines.sft_gold_epochs" not in flat:
        # before the setting, the SFT-on-gold student trained as long as the stage students
        s = cfg.student
        cfg.baselines.sft_gold_epochs = s.epochs or TrainConfig(init=s.init).resolved().epochs
    return cfg


def teacher_settings(settings: dict[str, Any]) -> dict[str, Any]:
    """A teacher step's settings as its fingerprint holds them: a setting added later is left
    out at the value older runs had in effect, so their teacher steps stay current."""
    return {k: v for k, v in settings.items()
            if not (k in TEACHER_ADDED_LATER and v == TEACHER_ADDED_LATER[k])}


def relabel_inputs(fp: dict[str, Any], engine: str) -> dict[str, Any]:
    """A relabel step's fingerprint inputs with the student's decoding engine, entered only
    where it is not the one older runs decoded with."""
    if engine != STUDENT_ADDED_LATER["engine"]:
        fp["engine"] = engine
    return fp
