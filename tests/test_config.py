import pytest

from mckd.config import PRESETS, load_config
from mckd.errors import MckdError


def test_defaults_follow_the_paper():
    cfg = load_config()
    assert cfg.stages == 3 and cfg.format == "unlabeled"
    assert cfg.teacher.shots == 30 and cfg.teacher.demo_selection == "random"
    assert cfg.data.labeled == 50


def test_precedence_preset_toml_flags_overrides(tmp_path):
    toml = tmp_path / "c.toml"
    toml.write_text('stages = 2\n[teacher]\nshots = 4\nparallel = 3\n[student]\nepochs = 7\n')
    cfg = load_config("demo", str(toml), ["teacher.parallel=5", "student.lr=0.002"],
                      flags={"teacher.shots": 6, "seed": None})
    assert cfg.stages == 2                  # TOML beats preset
    assert cfg.teacher.shots == 6           # flag beats TOML
    assert cfg.teacher.parallel == 5        # key=value beats all
    assert cfg.student.epochs == 7
    assert cfg.student.overrides == {"lr": 0.002}  # unknown student keys go to the trainer
    assert cfg.data.max_words == PRESETS["demo"]["data.max_words"]


@pytest.mark.parametrize("bad, msg", [
    (["teacher.nope=1"], "unknown setting"),
    (["stages=x"], "expected an integer"),
    (["stages=0"], "stages must be"),
    (["nokeyvalue"], "expected key=value"),
    (["teacher=1"], "is a section"),
    (["baselines.sd_filter=maybe"], "true/false"),
])
def test_bad_settings_are_clear_errors(bad, msg):
    with pytest.raises(MckdError, match=msg):
        load_config(overrides=bad)


def test_bad_toml_names_the_file(tmp_path):
    f = tmp_path / "bad.toml"
    f.write_text("stages = [\n")
    with pytest.raises(MckdError, match="bad.toml: invalid TOML"):
        load_config(toml_path=str(f))
    with pytest.raises(MckdError, match="not found"):
        load_config(toml_path=str(tmp_path / "missing.toml"))
    with pytest.raises(MckdError, match="unknown preset"):
        load_config("huge")


def test_level_schedule_is_the_default_and_craft_cpu_keeps_its_teacher_steps():
    from mckd.teacher import TeacherConfig
    from mckd.teacher.engine import SCHEDULES

    assert load_config("demo").teacher.schedule == "level" == TeacherConfig().schedule
    from mckd.config import CHOICES

    # config validates without importing llama.cpp's engine, so it keeps its own copy
    assert CHOICES["teacher.schedule"] == SCHEDULES
    from mckd.teacher.prompt import PROMPT_FORMATS

    assert CHOICES["teacher.prompt_format"] == PROMPT_FORMATS
    # the committed experiment's teacher steps were made with the older schedule
    assert load_config("craft-cpu").teacher.schedule == "jump"


def test_overrides_may_follow_options_on_the_command_line():
    """`mckd train ... batch_size=16 --seed 1 lr=1e-4`: argparse alone rejected the override
    after the option (issue 37); every key=value is an override, in command-line order."""
    from mckd.cli import build_parser, main

    args_seen = {}

    def grab(args):
        args_seen["overrides"] = list(args.overrides)
        return 0

    import mckd.commands.train as train_cmd

    orig = train_cmd.run
    train_cmd.run = grab
    try:
        assert main(["train", "--train", "x.jsonl", "--out", "o", "batch_size=16", "--seed", "1",
                     "lr=1e-4", "batch_size=8"]) == 0
    finally:
        train_cmd.run = orig
    assert args_seen["overrides"] == ["batch_size=16", "lr=1e-4", "batch_size=8"]
    import pytest

    with pytest.raises(SystemExit):  # anything else unknown is still refused
        main(["train", "--train", "x.jsonl", "--out", "o", "--bogus", "1"])
    with pytest.raises(SystemExit):  # and a command without overrides takes none
        main(["report", "runs/x", "lr=1"])
    assert build_parser()


def test_every_bad_setting_is_reported_at_once():
    # issue 37 item 9: several bad settings reported only the first
    from mckd.config import load_config

    with pytest.raises(MckdError) as e:
        load_config(None, None, ["teacher.vote_threshold=2", "baselines.committee_threshold=-1",
                                 "student.arch=t5-nope", "student.lr=abc",
                                 "data.min_words=9", "data.max_words=3"])
    msg = str(e.value)
    assert msg.startswith("5 problems in the settings:")
    for what in ("teacher.vote_threshold", "baselines.committee_threshold", "student.arch",
                 "student.lr", "data.min_words=9 is above"):
        assert what in msg, (what, msg)
    assert len(msg.splitlines()) == 6  # one line per problem
    # one problem: its own line, as before
    with pytest.raises(MckdError, match=r"^teacher.vote_threshold must be in \[0, 1\), got 2.0$"):
        load_config(None, None, ["teacher.vote_threshold=2"])
