"""Settings and data are checked before the first step, each error one line naming key or file:line."""

import json

import pytest

from mckd.cli import build_parser, main
from mckd.config import PRESETS, QUANTIZATIONS, load_config
from mckd.data import check_data_dir
from mckd.errors import MckdError


@pytest.mark.parametrize("bad, msg", [
    ("student.epoch=5", r"unknown setting student\.epoch=5 \(did you mean student\.epochs\?\)"),
    ("student.lr=abc", r"student\.lr: expected a number, got 'abc'"),
    ("student.arch=t5-mciro", r"student\.arch='t5-mciro' is not one of t5-micro.*did you mean t5-micro"),
    ("student.epochs=-2", r"student\.epochs must be >= 0 .*got -2"),
    ("student.device=tpu", r"student\.device='tpu' is not one of auto, cpu, cuda"),
    ("student.bf16=maybe", r"student\.bf16: expected true/false, got 'maybe'"),
    ("student.stop=never", r"stop='never'"),
    ("student.format=text", r"student\.format: set format instead"),
    ("student.init=/no/such/checkpoint", r"student\.init='/no/such/checkpoint': no such folder"),
    ("teacher.shots=0", r"teacher\.shots must be >= 1"),
    ("teacher.shot=4", r"unknown setting 'teacher\.shot' \(did you mean teacher\.shots\?\)"),
    ("teacher.demo_selection=simlar", r"not one of random, fixed, similar \(did you mean similar\?\)"),
    ("teacher.parallel=0", r"teacher\.parallel must be >= 1"),
    ("teacher.threads=-1", r"teacher\.threads must be >= 0"),
    ("teacher.n_ctx=0", r"teacher\.n_ctx must be >= 1"),
    ("teacher.samples=-1", r"teacher\.samples must be >= 0 \(0 = one pass, no vote\)"),
    ("teacher.vote_threshold=1.5", r"teacher\.vote_threshold must be in \[0, 1\), got 1\.5"),
    ("teacher.vote_temperature=0", r"teacher\.vote_temperature must be > 0"),
    ("teacher.vote_demo_words=20to30", r"teacher\.vote_demo_words '20to30': expected LO-HI words"),
    ("teacher.vote_demo_words=auto", r"teacher\.vote_demo_words='auto' needs data\.max_words"),
    ("format=labeled teacher.samples=3", r"teacher\.samples=3: voting works on format 'unlabeled'"),
    ("data.labeled=0", r"data\.labeled must be >= 1"),
    ("data.max_pool=-1", r"data\.max_pool must be >= 0 .*got -1"),
    ("data.max_test=-1", r"data\.max_test must be >= 0"),
    ("data.max_words=-3", r"data\.max_words must be >= 0"),
    ("data.min_words=0", r"data\.min_words must be >= 1"),
    ("stages=0", r"stages must be >= 1"),
    ("format=xml", r"format='xml' is not one of unlabeled, labeled, skeleton, chunks, basenp, text"),
    ("quantization=int4", r"quantization='int4' is not one of"),
    ("studnt.epochs=3", r"unknown setting 'studnt\.epochs' \(did you mean student\.epochs\?\)"),
])
def test_every_bad_setting_is_one_clear_line(bad, msg):
    with pytest.raises(MckdError, match=msg) as e:
        load_config(overrides=bad.split())
    assert "\n" not in str(e.value)


def test_good_student_settings_reach_the_trainer_typed():
    cfg = load_config(overrides=["student.lr=1e-3", "student.batch_size=8", "student.bf16=false",
                                 "student.warmup=0", "student.stop=fidelity",
                                 "quantization=int8_float32"])
    assert cfg.student.overrides == {"lr": 0.001, "batch_size": 8, "bf16": False, "warmup": 0.0,
                                     "stop": "fidelity"}
    assert isinstance(cfg.student.overrides["warmup"], float)
    assert cfg.quantization == "int8_float32"


def test_toml_types_and_cross_field_ranges(tmp_path):
    f = tmp_path / "c.toml"
    f.write_text("[teacher]\nshots = true\n")
    with pytest.raises(MckdError, match=r"c\.toml: teacher\.shots: expected an integer, got True"):
        load_config(toml_path=str(f))
    f.write_text("[student]\nepcohs = 3\n")
    with pytest.raises(MckdError, match=r"did you mean student\.epochs"):
        load_config(toml_path=str(f))
    with pytest.raises(MckdError, match=r"data\.min_words=9 is above data\.max_words=5"):
        load_config(overrides=["data.max_words=5", "data.min_words=9"])


def test_preset_and_quantization_choices_come_from_the_config():
    sub = build_parser()._subparsers._group_actions[0].choices
    presets = next(a for a in sub["distill"]._actions if a.dest == "preset")
    assert list(presets.choices) == list(PRESETS)
    quant = next(a for a in sub["export"]._actions if a.dest == "quantization")
    assert tuple(quant.choices) == QUANTIZATIONS and "int8_float32" in QUANTIZATIONS
    for name in PRESETS:  # every preset is itself valid
        load_config(name)


# ----------------------------------------------------------------------------- data checks
GOLD = "(S (NP (NNS Dogs)) (VP (VBP bark)))"


def _rec(i, **kw):
    r = {"id": f"r{i}", "words": ["Dogs", "bark"], "source": "Dogs bark", "gold": GOLD,
         "targets": {"unlabeled": "( ( Dogs ) ( bark ) )"}}
    r.update(kw)
    return {k: v for k, v in r.items() if v is not None}


def _data(tmp_path, train, test):
    d = tmp_path / "data"
    d.mkdir(exist_ok=True)
    for name, recs in (("train", train), ("test", test)):
        (d / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
    return d


def test_a_good_data_dir_passes(tmp_path):
    d = _data(tmp_path, [_rec(i) for i in range(6)], [_rec(i) for i in range(3)])
    assert check_data_dir(d, "unlabeled", labeled=4) == {"train": 6, "test": 3}


@pytest.mark.parametrize("train, test, fmt, msg", [
    ([_rec(i) for i in range(6)], [_rec(0), _rec(1, gold=None)], "unlabeled",
     r"test\.jsonl:2: record 'r1': no gold tree"),
    ([_rec(i) for i in range(6)], [_rec(0, gold="(S (NN Dogs)")], "unlabeled",
     r"test\.jsonl:1: record 'r0': gold tree does not parse"),
    ([_rec(i) for i in range(6)], [_rec(0, words=None)], "unlabeled",
     r"test\.jsonl:1: record 'r0': no `words` list"),
    ([_rec(i) for i in range(6)], [_rec(0, words=["Cats", "bark"])], "unlabeled",
     r"test\.jsonl:1: record 'r0': gold tree words differ"),
    ([_rec(i) for i in range(6)], [_rec(0)], "text",
     r"train\.jsonl:1: record 'r0': no 'text' target"),
    ([_rec(i, target="x") for i in range(6)], [_rec(0, targets=None)], "text",
     r"test\.jsonl:1: record 'r0': no gold text"),
    ([_rec(i) for i in range(6)], [_rec(0), _rec(0)], "unlabeled",
     r"test\.jsonl:2: record 'r0': duplicate id \(first at line 1\)"),
    ([_rec(i) for i in range(5)], [_rec(0)], "unlabeled",
     r"train\.jsonl: 5 records; data\.labeled=4 needs at least 6"),
    ([_rec(i) for i in range(6)], [], "unlabeled", r"test\.jsonl: no records"),
])
def test_data_problems_name_file_and_line(tmp_path, train, test, fmt, msg):
    d = _data(tmp_path, train, test)
    with pytest.raises(MckdError, match=msg) as e:
        check_data_dir(d, fmt, labeled=4)
    assert "\n" not in str(e.value)


def test_unreadable_data_names_file_and_line(tmp_path):
    d = _data(tmp_path, [_rec(i) for i in range(6)], [_rec(0)])
    with open(d / "test.jsonl", "a") as f:
        f.write("{not json\n")
    with pytest.raises(MckdError, match=r"test\.jsonl:2: invalid JSON"):
        check_data_dir(d, "unlabeled", labeled=4)
    (d / "test.jsonl").unlink()
    with pytest.raises(MckdError, match=r"no test\.jsonl"):
        check_data_dir(d, "unlabeled", labeled=4)
    with pytest.raises(MckdError, match=r"--data .*missing: no such folder"):
        check_data_dir(tmp_path / "missing", "unlabeled")


def test_distill_stops_before_the_first_step(tmp_path, capsys):
    """A bad setting or a test split without gold fails at once: no run directory is written."""
    d = _data(tmp_path, [_rec(i) for i in range(6)], [_rec(0, gold=None)])
    out = tmp_path / "run"
    assert main(["distill", "--data", str(d), "--out", str(out), "student.epoch=5"]) == 2
    assert "did you mean student.epochs" in capsys.readouterr().err
    assert main(["distill", "--data", str(d), "--out", str(out), "data.labeled=4"]) == 2
    err = capsys.readouterr().err
    assert "no gold tree" in err and err.count("\n") == 1
    assert not out.exists()
