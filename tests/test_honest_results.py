"""Honest results (issue 8): scores read the raw outputs, and a run directory only reports steps
done under the current config (model files by content, code versions, switched-off baselines).

The pipeline tests swap the teacher and the students for fakes that write label files in the
real format, so the whole bookkeeping runs in seconds.
"""

import json
import os
import shutil
from pathlib import Path

import pytest

from mckd.cli import main
from mckd.config import load_config
from mckd.metrics.score import score
from mckd.jsonio import read_jsonl, write_jsonl_atomic
from mckd.pipeline.distiller import Distiller, distill, sd_keep

# ----------------------------------------------------------------------------- scoring

DOGS = {"id": "1", "words": ["Dogs", "bark"], "gold": "(S (NP (NNS Dogs)) (VP (VBP bark)))",
        "targets": {"unlabeled": "( ( Dogs ) ( bark ) )"}}


def test_exact_unlabeled_prediction_scores_100_on_evalb_and_paper():
    m = score([DOGS], [{"id": "1", "output": "( ( Dogs ) ( bark ) )"}], "unlabeled")
    assert m["evalb_f1"] == 100.0 and m["evalb_f1_errors_as_zero"] == 100.0
    assert m["paper_f1"] == 100.0 and m["paper_f1_strict"] == 100.0
    assert m["invalid"] == 0 and m["repaired"] == 0


def test_scores_read_the_raw_output_not_the_repaired_target():
    # the repaired target is perfect, the raw output lost its last bracket: it is an EVALB error
    pred = {"id": "1", "output": "( ( Dogs ) ( bark )", "target": "( ( Dogs ) ( bark ) )"}
    m = score([DOGS], [pred], "unlabeled")
    assert m["invalid"] == 1 and m["repaired"] == 1 and m["evalb_errors"] == 1
    assert m["evalb_f1_errors_as_zero"] == 0.0
    # garbage fails the paper metric too (the repaired target would have earned 100)
    m = score([DOGS], [{"id": "1", "output": "bark bark", "target": DOGS["targets"]["unlabeled"]}],
              "unlabeled")
    assert m["paper_f1"] == 0.0 and m["invalid"] == 1
    # without `output` (external predictions, reference structures) the target is scored
    m = score([DOGS], [{"id": "1", "target": "( ( Dogs ) ( bark ) )"}], "unlabeled")
    assert m["invalid"] == 0 and m["evalb_f1"] == 100.0


def test_words_other_than_the_gold_are_an_evalb_error_and_zero_in_errors_as_zero():
    two = [DOGS, dict(DOGS, id="2")]
    preds = [{"id": "1", "output": "( ( Dogs ) ( bark ) )"},
             {"id": "2", "output": "( ( Cats ) ( bark ) )"}]
    m = score(two, preds, "unlabeled")
    assert m["invalid"] == 1 and m["evalb_errors"] == 1
    assert m["evalb_f1"] == 100.0  # EVALB leaves the error sentence out
    assert m["evalb_f1_errors_as_zero"] < 100.0


def test_oracle_gold_linearization_scores_100_on_craft(craft_dir):
    """The gold's own unlabeled target is a perfect prediction on both metrics."""
    from mckd.data import read_treebank
    from mckd.metrics.paper import PAPER_WORD_TAGS
    from mckd.trees import parse_tree

    paths = sorted(craft_dir.glob("*.tree"))[:6]
    recs, _ = read_treebank(paths, craft_dir)
    keep = set(PAPER_WORD_TAGS)
    # the paper metric scores a sentence without any span (< 2 kept words) 0, by design
    recs = [r for r in recs if sum(t in keep for t in parse_tree(r["gold"]).tags) >= 2][:2000]
    assert len(recs) >= 500
    preds = [{"id": r["id"], "output": r["targets"]["unlabeled"]} for r in recs]
    m = score(recs, preds, "unlabeled")
    assert m["invalid"] == 0 and m["evalb_errors"] == 0
    assert m["evalb_f1"] == pytest.approx(100.0) and m["paper_f1"] == pytest.approx(100.0)
    assert m["evalb_f1_errors_as_zero"] == pytest.approx(100.0)


def test_sd_filter_ranks_a_mean_logprob_of_zero_first_and_only_none_last():
    recs = [{"id": "a", "logprob_mean": -0.5}, {"id": "b", "logprob_mean": 0.0},
            {"id": "c", "logprob_mean": None}, {"id": "d", "logprob_mean": -2.0}]
    assert [r["id"] for r in sd_keep(recs)] == ["a", "b"]
    recs[1]["logprob_mean"] = None
    assert [r["id"] for r in sd_keep(recs)] == ["a", "d"]


# ----------------------------------------------------------------------------- fake pipeline

TREES = [
    "(S (NP (DT The) (NN w{i})) (VP (VBZ runs) (ADVP (RB fast))) (. .))",
    "(S (NP (NNS Dogs{i})) (VP (VBP bark) (PP (IN at) (NP (DT the) (NN cat)))))",
    "(S (NP (PRP It)) (VP (VBD saw) (NP (DT a) (JJ big) (NN x{i}))))",
]


def _rb(words):
    t = f"( {words[-1]} )"
    for w in reversed(words[:-1]):
        t = f"( ( {w} ) {t} )"
    return t


CALLS: dict[str, int] = {}


def _fake_run_teacher(model_path, demos, inputs, out_path, cfg):
    """Right-branching trees; every third raw output lost its last bracket (repaired)."""
    CALLS["teacher"] = CALLS.get("teacher", 0) + 1
    recs = []
    for i, x in enumerate(inputs):
        good = _rb(x["words"])
        bad = i % 3 == 0
        recs.append({"id": x["id"], "source": x["source"], "words": x["words"], "target": good,
                     "output": good[:-2] if bad else good, "valid": not bad, "repaired": bad,
                     "logprob_mean": -0.1 * (i % 4)})
    write_jsonl_atomic(out_path, recs)
    return {"count": len(recs)}


def _fake_train(recs, out_dir, cfg, dev_records=None):
    CALLS["train"] = CALLS.get("train", 0) + 1
    CALLS.setdefault("epochs", {})[Path(out_dir).parent.name] = cfg.epochs
    CALLS.setdefault("stop", {})[Path(out_dir).parent.name] = (
        cfg.stop, sorted(r["id"] for r in dev_records) if dev_records else None)
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    (Path(out_dir) / "n.json").write_text(json.dumps(len(recs)))
    return {"n": len(recs)}


def _fake_export(src, dst, quantization="int8"):
    Path(dst).mkdir(parents=True, exist_ok=True)
    (Path(dst) / "model.bin").write_text("fake")


def _fake_relabel(model_dir, records, out_path, device="auto", **kw):
    """Raw outputs: valid right-branching trees, except every fourth cut short."""
    recs = []
    for i, x in enumerate(records):
        good = _rb(x["words"])
        bad = i % 4 == 0
        recs.append({"id": x["id"], "source": x["source"], "words": x["words"], "target": good,
                     "output": good[:-4] if bad else good, "valid": not bad, "repaired": bad,
                     "logprob_mean": 0.0 if i % 2 else -1.0})
    write_jsonl_atomic(out_path, recs)
    return {"n": len(recs)}


@pytest.fixture()
def fakes(monkeypatch, tmp_path):
    import mckd.student.export
    import mckd.student.relabel
    import mckd.teacher
    import mckd.student.train

    CALLS.clear()
    monkeypatch.setattr(mckd.teacher, "run_teacher", _fake_run_teacher)
    monkeypatch.setattr(mckd.student.train, "train_student", _fake_train)
    monkeypatch.setattr(mckd.student.export, "export_student", _fake_export)
    monkeypatch.setattr(mckd.student.relabel, "relabel", _fake_relabel)
    monkeypatch.setenv("MCKD_CACHE_DIR", str(tmp_path / "mckd-cache"))
    return CALLS


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    from mckd.data import import_treebank

    d = tmp_path_factory.mktemp("toy")
    tb = d / "toy.tree"
    tb.write_text("\n".join(TREES[i % 3].format(i=i) for i in range(60)) + "\n")
    import_treebank(str(tb), d / "data", seed=0, splits="train=0.7,test=0.3")
    return d / "data"


def _cfg(gguf: Path, *extra: str):
    return load_config(overrides=["stages=2", "data.labeled=4", "data.max_pool=12",
                                  "data.max_test=6", "teacher.shots=2",
                                  f"teacher.model={gguf}", *extra])


def _gguf(tmp_path, content=b"GGUF fake teacher v1") -> Path:
    p = tmp_path / "teacher.gguf"
    p.write_bytes(content)
    return p


def _run(data_dir, run, cfg, log=None):
    lines: list[str] = []
    res = distill(cfg, data_dir, run, log=lines.append)
    return res, "\n".join(lines)


def test_rows_score_raw_outputs_name_their_labels_and_count_repaired_targets(
        fakes, data_dir, tmp_path):
    run = tmp_path / "run"
    res, _ = _run(data_dir, run, _cfg(_gguf(tmp_path)))
    assert res["complete"] and set(res["models"]) == {"teacher", "sft_gold", "vanilla_kd",
                                                      "2-stage"}
    for key, m in res["models"].items():
        f = run / m["labels"]
        assert f.is_file(), key
        recs = read_jsonl(f)
        assert all("output" in r for r in recs)
        assert m["invalid"] == sum(not r["valid"] for r in recs), key
        assert m["invalid"] > 0 and m["evalb_errors"] == m["invalid"]
    for m in res["stage_students"].values():
        assert (run / m["labels"]).is_file()
    # students train on repaired targets and say how many there were
    train = read_jsonl(run / "steps/labels_0_all/labels.jsonl")
    assert res["models"]["vanilla_kd"]["train_repaired"] == sum(r["repaired"] for r in train) > 0
    assert res["students"]["final_0"]["train_repaired"] > 0
    assert res["models"]["sft_gold"]["train_repaired"] == 0
    man = json.loads((run / "manifest.json").read_text())
    import hashlib
    assert man["teacher"]["sha256"] == hashlib.sha256((tmp_path / "teacher.gguf").read_bytes()
                                                      ).hexdigest()
    md = (run / "results.md").read_text()
    assert "How the columns are computed" in md and "paper F1, strict" in md


def test_switched_off_baselines_disappear_everywhere(fakes, data_dir, tmp_path, capsys):
    run = tmp_path / "run"
    gguf = _gguf(tmp_path)
    _run(data_dir, run, _cfg(gguf))
    res, _ = _run(data_dir, run, _cfg(gguf, "baselines.sft_gold=false",
                                      "baselines.vanilla_kd=false"))
    assert set(res["models"]) == {"teacher", "2-stage"} and res["complete"]
    md = (run / "results.md").read_text()
    assert "gold examples only" not in md and "vanilla KD" not in md
    assert set(json.loads((run / "results.json").read_text())["models"]) == {"teacher", "2-stage"}
    capsys.readouterr()
    assert main(["report", str(run), "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert set(rep["models"]) == {"teacher", "2-stage"} and rep["complete"]


def test_report_shows_only_current_steps_and_complete_means_complete(fakes, data_dir, tmp_path,
                                                                     capsys):
    run = tmp_path / "run"
    _run(data_dir, run, _cfg(_gguf(tmp_path)))
    # a student done under other settings: it and everything after it are not current
    done = run / "steps/s1_A/done.json"
    info = json.loads(done.read_text())
    info["fingerprint"] = "0" * 16
    done.write_text(json.dumps(info))
    (run / "steps/sft_gold_test/done.json").unlink()  # an unfinished baseline
    capsys.readouterr()
    assert main(["report", str(run), "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert not rep["complete"]
    assert set(rep["models"]) == {"teacher", "vanilla_kd"}
    assert "stage1_A" not in rep["stage_students"] and "stage1" not in rep["pool_quality"]
    assert {"s1_A", "sft_gold_test"} <= set(rep["missing"])
    assert "not finished for the current settings" in (run / "results.md").read_text()


def test_replacing_the_teacher_file_reruns_the_teacher(fakes, data_dir, tmp_path):
    run = tmp_path / "run"
    gguf = _gguf(tmp_path)
    _run(data_dir, run, _cfg(gguf))
    n = fakes["teacher"]
    _, log = _run(data_dir, run, _cfg(gguf))
    assert fakes["teacher"] == n and "[run]" not in log and "[redo]" not in log
    gguf.write_bytes(b"GGUF fake teacher v2")  # same path and size, other content
    os.utime(gguf, ns=(1, 1))
    _, log = _run(data_dir, run, _cfg(gguf))
    assert fakes["teacher"] == n + 2 and "[redo] teacher labels the pool" in log


def test_changing_the_init_checkpoint_reruns_the_students(fakes, data_dir, tmp_path):
    run = tmp_path / "run"
    init = tmp_path / "ckpt"
    init.mkdir()
    (init / "model.safetensors").write_bytes(b"weights v1")
    cfg = _cfg(_gguf(tmp_path), f"student.init={init}")
    _run(data_dir, run, cfg)
    n = fakes["train"]
    (init / "model.safetensors").write_bytes(b"weights v2")
    os.utime(init / "model.safetensors", ns=(2, 2))
    _, log = _run(data_dir, run, cfg)
    assert fakes["train"] > n and "[redo] stage 1/2: student A" in log
    assert "[done] teacher labels the pool" in log


def test_code_versions_enter_fingerprints_and_eval_caches(fakes, data_dir, tmp_path, monkeypatch):
    import mckd.pipeline.distiller as P

    run = tmp_path / "run"
    cfg = _cfg(_gguf(tmp_path))
    res, _ = _run(data_dir, run, cfg)
    # an eval.json made by another scorer version is recomputed, never shown
    cache = run / "steps/final_1_test/eval.json"
    old = json.loads(cache.read_text())
    old["cache_key"]["scorer_version"] = 1
    old["result"]["paper_f1"] = 12345.0
    cache.write_text(json.dumps(old))
    res2, _ = _run(data_dir, run, cfg)
    assert res2["models"]["2-stage"]["paper_f1"] == res["models"]["2-stage"]["paper_f1"]
    # a new constraint version re-runs the teacher; a new repair version re-runs the relabels
    monkeypatch.setattr(P, "CONSTRAINT_VERSION", P.CONSTRAINT_VERSION + 1)
    _, log = _run(data_dir, run, cfg)
    assert "[redo] teacher labels the pool" in log
    monkeypatch.setattr(P, "REPAIR_VERSION", P.REPAIR_VERSION + 1)
    _, log = _run(data_dir, run, cfg)
    assert "[redo] stage 1/2: student A relabels half B" in log


def test_file_hash_is_cached_per_path_size_and_mtime(tmp_path, monkeypatch):
    import mckd.filehash as H

    f = tmp_path / "m.gguf"
    f.write_bytes(b"abc")
    cache = tmp_path / "hashes.json"
    first = H.file_sha256(f, cache)
    calls = []
    monkeypatch.setattr(H, "sha256_file", lambda p: calls.append(p) or "x")
    assert H.file_sha256(f, cache) == first and not calls  # from the cache
    f.write_bytes(b"abd")
    os.utime(f, ns=(5, 5))
    assert H.file_sha256(f, cache) == "x" and calls


def test_distiller_plan_runs_nothing(fakes, data_dir, tmp_path):
    run = tmp_path / "run"
    d = Distiller(_cfg(_gguf(tmp_path)), data_dir, run, log=lambda s: None)
    missing = d.plan()
    assert missing == ["select"] and not fakes and not (run / "steps/select").exists()


@pytest.mark.parametrize("fmt", ["unlabeled", "labeled", "skeleton"])
def test_exact_output_scores_100_in_every_tree_format(fmt):
    # the authors read every "(" as unlabeled; labeled outputs are put in the paper's notation
    # (labels dropped, no repair) so a label is never counted as a word
    g = {"id": "a", "words": ["a", "b", "c"], "gold": "(S (NP (DT a) (NN b)) (VP (VBD c)))",
         "targets": {"unlabeled": "( ( ( a ) ( b ) ) ( c ) )",
                     "labeled": "(S (NP (DT a) (NN b)) (VP (VBD c)))",
                     "skeleton": "(S (NP DT NN) (VP VBD))"}}
    from mckd.metrics.score import score as score_fn

    m = score_fn([g], [{"id": "a", "output": g["targets"][fmt]}], fmt)
    assert (m["paper_f1"], m["paper_f1_strict"], m["evalb_f1"], m["invalid"]) == (100.0, 100.0, 100.0, 0)


def test_student_init_short_name_enters_the_fingerprint_by_content(data_dir, tmp_path):
    from mckd.errors import MckdError
    from mckd.jsonio import sha256_file
    from mckd.teacher.models import resolve_model

    try:
        gguf = resolve_model("smollm2")
    except MckdError as e:
        pytest.skip(str(e))
    d = Distiller(_cfg(_gguf(tmp_path), "student.init=smollm2"), data_dir, tmp_path / "run",
                  log=lambda s: None)
    assert d._init_sha() == sha256_file(gguf)


def test_sft_gold_sees_as_many_examples_as_a_stage_student(fakes, data_dir, tmp_path):
    # 4 gold examples against half a pool of 12 for 2 epochs: 12 examples = 3 epochs of 4
    run = tmp_path / "run"
    res, log = _run(data_dir, run, _cfg(_gguf(tmp_path), "student.epochs=2"))
    assert res["complete"]
    assert fakes["epochs"]["sft_gold"] == 3 and fakes["epochs"]["s1_A"] == 2
    assert "gold examples only (3 epochs)" in log
    # set by hand, it re-trains that baseline and nothing else
    n = fakes["train"]
    res, log = _run(data_dir, run, _cfg(_gguf(tmp_path), "student.epochs=2",
                                        "baselines.sft_gold_epochs=5"))
    assert res["complete"] and fakes["train"] == n + 1 and fakes["epochs"]["sft_gold"] == 5


def test_stop_dev_picks_each_students_epoch_on_the_gold_examples(fakes, data_dir, tmp_path):
    """student.stop=dev: every student is scored on the gold examples but the one trained on
    them (SFT-on-gold stops by epochs); turning it on re-trains the other students, nothing
    else."""
    run = tmp_path / "run"
    res, _ = _run(data_dir, run, _cfg(_gguf(tmp_path)))
    assert res["complete"] and all(v == ("epochs", None) for v in fakes["stop"].values())
    n = fakes["train"]
    fakes["stop"].clear()
    res, _ = _run(data_dir, run, _cfg(_gguf(tmp_path), "student.stop=dev"))
    assert res["complete"] and fakes["train"] - n == len(fakes["stop"]) == 4
    assert set(fakes["stop"]) == {"s1_A", "s1_B", "final_0", "final_1"}
    demos = sorted(r["id"] for r in read_jsonl(run / "steps/select/demos.jsonl"))
    assert "sft_gold" not in fakes["stop"]  # its weights would not change: not re-trained
    assert all(v == ("dev", demos) for v in fakes["stop"].values()), fakes["stop"]
    # the teacher's labels are not redone, and a second run is a no-op
    n = fakes["train"]
    res, log = _run(data_dir, run, _cfg(_gguf(tmp_path), "student.stop=dev"))
    assert res["complete"] and fakes["train"] == n and "[run]" not in log
    # a fresh run with stop=dev: the SFT-on-gold student trains by epochs
    fakes["stop"].clear()
    res, _ = _run(data_dir, tmp_path / "fresh", _cfg(_gguf(tmp_path), "student.stop=dev"))
    assert res["complete"] and fakes["stop"]["sft_gold"] == ("epochs", None)


def test_report_reads_an_older_manifest_with_the_settings_it_had(fakes, data_dir, tmp_path,
                                                                 capsys):
    # a run made before teacher.schedule and baselines.sft_gold_epochs existed: its teacher
    # decoded with 'jump' and its SFT-on-gold student trained as long as the stage students;
    # today's defaults ('level', auto epochs) must not turn its finished steps into "not done"
    run = tmp_path / "run"
    res, _ = _run(data_dir, run, _cfg(_gguf(tmp_path), "student.epochs=2", "teacher.schedule=jump",
                                      "baselines.sft_gold_epochs=2"))
    assert res["complete"]
    man = json.loads((run / "manifest.json").read_text())
    del man["config"]["teacher"]["schedule"], man["config"]["baselines"]["sft_gold_epochs"]
    (run / "manifest.json").write_text(json.dumps(man))
    capsys.readouterr()
    assert main(["report", str(run), "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["complete"] and not rep["missing"]
    assert set(rep["models"]) == {"teacher", "sft_gold", "vanilla_kd", "2-stage"}


def test_config_from_manifest_keeps_what_the_manifest_says():
    from mckd.pipeline.compat import config_from_manifest

    old = config_from_manifest({"student": {"epochs": 3}})
    assert (old.teacher.schedule, old.baselines.sft_gold_epochs) == ("jump", 3)
    # no student epochs recorded: the trainer's default for that kind of student
    assert config_from_manifest({"student": {"init": "smollm2"}}).baselines.sft_gold_epochs == 20
    new = config_from_manifest({"teacher": {"schedule": "level"}, "student": {"epochs": 3},
                                "baselines": {"sft_gold_epochs": 0}})
    assert (new.teacher.schedule, new.baselines.sft_gold_epochs) == ("level", 0)


def test_sft_gold_epochs_below_zero_is_a_clear_error(tmp_path):
    from mckd.config import validate
    from mckd.errors import MckdError

    with pytest.raises(MckdError, match=r"baselines.sft_gold_epochs must be >= 0"):
        validate(_cfg(_gguf(tmp_path), "baselines.sft_gold_epochs=-1"))


# ----------------------------------------------------------------------------- --only (parts of a run)

def test_only_runs_the_named_model_steps_and_the_bookkeeping_before_them(fakes, data_dir, tmp_path):
    run = tmp_path / "run"
    cfg = _cfg(_gguf(tmp_path))
    res = distill(cfg, data_dir, run, log=lambda s: None, only={"teacher_pool", "teacher_test"})
    assert fakes["teacher"] == 2 and "train" not in fakes and not res["complete"]
    man = json.loads((run / "manifest.json").read_text())
    assert man["status"] == "partial"
    assert [i["status"] for i in man["invocations"]] == ["partial"]
    # the two stage-1 sides are independent: both are next, with vanilla KD and the baselines
    d = Distiller(cfg, data_dir, run, log=lambda s: None)
    assert set(d.plan()) == {"final_0", "s1_A", "s1_B", "sft_gold"}
    # student B and its relabel of half A, without student A
    distill(cfg, data_dir, run, log=lambda s: None, only={"s1_B", "labels_1_A"})
    assert fakes["train"] == 1
    assert (run / "steps/labels_1_A/done.json").is_file()
    assert not (run / "steps/s1_A").exists() and not (run / "steps/labels_1_B").exists()
    assert set(Distiller(cfg, data_dir, run, log=lambda s: None).plan()) == {
        "final_0", "s1_A", "s1_B_test", "sft_gold"}
    # the rest, as one sequential run: the parts are reused, the result is whole
    n = fakes["train"]
    res, log = _run(data_dir, run, cfg)
    assert res["complete"] and "[done] stage 1/2: student B trains on half B" in log
    assert fakes["train"] == n + 4  # s1_A, final_0, final_1, sft_gold (sd_filter is off)
    # every invocation that made the run is on record, the last one's command on top
    man = json.loads((run / "manifest.json").read_text())
    assert [i["status"] for i in man["invocations"]] == ["partial", "partial", "finished"]
    assert man["command"] == man["invocations"][-1]["command"]
    # a part that leaves the run complete, its shipped model here, finishes it...
    (run / "steps/sft_gold_test/done.json").unlink()
    distill(cfg, data_dir, run, log=lambda s: None, only={"sft_gold_test"})
    assert json.loads((run / "manifest.json").read_text())["status"] == "finished"
    # ... and where that model's folder is gone (not committed), the run stays partial
    (run / "steps/sft_gold_test/done.json").unlink()
    shutil.rmtree(run / "steps/final_1/ct2")
    res = distill(cfg, data_dir, run, log=lambda s: None, only={"sft_gold_test"})
    assert res["complete"] and json.loads((run / "manifest.json").read_text())["status"] == "partial"


def test_a_garbled_manifest_is_a_clear_error_before_any_step_runs(fakes, data_dir, tmp_path):
    from mckd.errors import MckdError

    run = tmp_path / "run"
    cfg = _cfg(_gguf(tmp_path))
    distill(cfg, data_dir, run, log=lambda s: None, only={"teacher_pool"})
    steps = sorted(p.name for p in (run / "steps").iterdir())
    (run / "manifest.json").write_text('{"status": "partial", "invoc', encoding="utf-8")
    with pytest.raises(MckdError, match=r"manifest\.json.*line 1"):
        distill(cfg, data_dir, run, log=lambda s: None, only={"teacher_test"})
    assert sorted(p.name for p in (run / "steps").iterdir()) == steps  # nothing ran, nothing lost
    # a history that is not a list is started again; the rest of the manifest is rewritten
    (run / "manifest.json").write_text('{"invocations": "garbage"}', encoding="utf-8")
    distill(cfg, data_dir, run, log=lambda s: None, only={"teacher_test"})
    man = json.loads((run / "manifest.json").read_text())
    assert [i["status"] for i in man["invocations"]] == ["partial"] and man["status"] == "partial"


def test_only_names_what_to_run_first_and_refuses_unknown_steps(fakes, data_dir, tmp_path):
    from mckd.errors import MckdError

    run = tmp_path / "run"
    cfg = _cfg(_gguf(tmp_path))
    for bookkeeping_or_unknown in ("s1_C", "labels_0_A", "labels_1_all", "voted_1_B", "split"):
        with pytest.raises(MckdError, match="not a model step"):
            Distiller(cfg, data_dir, run, only={bookkeeping_or_unknown})
    with pytest.raises(MckdError, match=r"--only final_1: not run.*run first: .*teacher_pool"):
        distill(cfg, data_dir, run, log=lambda s: None, only={"final_1"})
    assert "teacher" not in fakes and "train" not in fakes
    with pytest.raises(MckdError, match="s3_A: not run"):  # a stage beyond --stages
        distill(cfg, data_dir, run, log=lambda s: None, only={"teacher_pool", "teacher_test",
                                                              "s3_A"})


def test_a_run_continues_without_the_teacher_file_once_the_teacher_steps_are_done(
        fakes, data_dir, tmp_path):
    from mckd.errors import MckdError

    run = tmp_path / "run"
    gguf = _gguf(tmp_path)
    cfg, other_shots = _cfg(gguf), _cfg(gguf, "teacher.shots=1")
    distill(cfg, data_dir, run, log=lambda s: None, only={"teacher_pool", "teacher_test"})
    gguf.unlink()  # another machine: the teacher steps are committed, the GGUF is not there
    res, log = _run(data_dir, run, cfg)
    assert res["complete"] and fakes["teacher"] == 2 and "[done] teacher labels the pool" in log
    # a teacher step that has to run still needs the model, and says so
    with pytest.raises(MckdError, match=r"teacher\.model='.*teacher\.gguf': no such file"):
        _run(data_dir, run, other_shots)


def test_a_fresh_run_without_its_teacher_file_stops_before_any_step(fakes, data_dir, tmp_path,
                                                                    capsys):
    # the config accepts the path (a continued run may not need the file); the run does not
    from mckd.errors import MckdError

    run, missing = tmp_path / "run", tmp_path / "no-such.gguf"
    with pytest.raises(MckdError, match=r"teacher\.model='.*no-such\.gguf': no such file"):
        _run(data_dir, run, _cfg(missing))
    assert not (run / "steps" / "select").exists() and "teacher" not in fakes
    assert main(["distill", "--data", str(data_dir), "--out", str(run), "data.labeled=4",
                 f"teacher.model={missing}"]) == 2
    assert "no-such.gguf': no such file" in capsys.readouterr().err


def test_only_on_the_command_line(fakes, data_dir, tmp_path, capsys):
    run = tmp_path / "run"
    args = ["distill", "--data", str(data_dir), "--out", str(run), "stages=2", "data.labeled=4",
            "data.max_pool=12", "data.max_test=6", "teacher.shots=2",
            f"teacher.model={_gguf(tmp_path)}"]
    assert main(args + ["--only", "teacher_pool, teacher_test"]) == 0
    assert fakes["teacher"] == 2 and "train" not in fakes
    assert (run / "steps/labels_0_all/done.json").is_file()  # bookkeeping runs
    assert main(args + ["--only", "s1_B"]) == 0 and fakes["train"] == 1
    capsys.readouterr()
    assert main(args + ["--only", "final_9"]) == 2
    assert "--only final_9: not run" in capsys.readouterr().err


def _lb(words):
    t = f"( {words[0]} )"
    for w in words[1:]:
        t = f"( {t} ( {w} ) )"
    return t


def _fake_voting_teacher(model_path, demos, inputs, out_path, cfg):
    """Two passes per sentence, right- and left-branching; the label is the first."""
    CALLS["teacher"] = CALLS.get("teacher", 0) + 1
    recs = [{"id": x["id"], "source": x["source"], "words": x["words"], "target": _rb(x["words"]),
             "output": _rb(x["words"]), "valid": True, "repaired": False,
             "votes": {"outputs": [_rb(x["words"]), _lb(x["words"])], "usable": 2}}
            for x in inputs]
    write_jsonl_atomic(out_path, recs)
    return {"count": len(recs)}


def test_stage_vote_hands_on_the_consensus_of_teacher_passes_and_relabels(
        fakes, data_dir, tmp_path, monkeypatch):
    import mckd.teacher
    from mckd.errors import MckdError
    from mckd.teacher.vote import consensus_tree

    monkeypatch.setattr(mckd.teacher, "run_teacher", _fake_voting_teacher)
    run, gguf = tmp_path / "run", _gguf(tmp_path)
    _run(data_dir, run, _cfg(gguf))
    trained = fakes["train"]
    res, log = _run(data_dir, run, _cfg(gguf, "stage_vote=true"))
    # only what reads the handed-on labels trains again: final_1, not the stage-1 students
    assert res["complete"] and fakes["train"] == trained + 1
    assert "[done] stage 1/2: student A trains on half A" in log
    handed = read_jsonl(run / "steps/labels_1_all/labels.jsonl")
    raw = {r["id"]: r for s in "AB" for r in read_jsonl(run / f"steps/labels_1_{s}/labels.jsonl")}
    teacher = {r["id"]: r for r in read_jsonl(run / "steps/teacher_pool/labels.jsonl")}
    assert len(handed) == len(raw) == 12
    for r in handed:
        assert r["relabel_output"] == raw[r["id"]]["output"] and r["target"] == r["output"]
        trees = teacher[r["id"]]["votes"]["outputs"] + [raw[r["id"]]["output"]]
        assert r["output"] == consensus_tree(trees, r["words"], 0.2)
        # a relabel that is not a tree over the words abstains; a valid one sides with the
        # right-branching pass, and the two outvote the left-branching one
        assert r["stage_vote"] == {"voters": 3, "usable": 3 if raw[r["id"]]["valid"] else 2}
        if raw[r["id"]]["valid"]:
            assert r["output"] == _rb(r["words"])
    assert {"teacher", "stage1", "stage1_voted"} <= set(res["pool_quality"])
    with pytest.raises(MckdError, match="stage_vote=true: voting works on format 'unlabeled'"):
        _cfg(gguf, "stage_vote=true", "format=labeled")


def test_committee_row_votes_the_raw_test_outputs_of_every_student(fakes, data_dir, tmp_path):
    from mckd.errors import MckdError
    from mckd.teacher.vote import consensus_tree

    run = tmp_path / "run"
    res, log = _run(data_dir, run, _cfg(_gguf(tmp_path), "baselines.committee=true"))
    assert res["complete"] and "committee" in res["models"]
    assert "committee: 3 students vote each test output" in log
    members = ["final_1_test", "s1_A_test", "s1_B_test"]
    outs = [{r["id"]: r for r in read_jsonl(run / f"steps/{m}/labels.jsonl")} for m in members]
    voted = read_jsonl(run / res["models"]["committee"]["labels"])
    assert len(voted) == 6
    for r in voted:
        trees = [o[r["id"]]["output"] for o in outs]
        usable = sum(o[r["id"]]["valid"] for o in outs)
        assert r["committee"] == {"members": 3, "usable": usable}
        if usable:
            assert r["output"] == consensus_tree(trees, r["words"], 0.2) and r["valid"]
        else:  # nobody wrote a tree over the words: the final student's raw output stands
            final = outs[0][r["id"]]
            assert (r["output"], r["valid"]) == (final["output"], False)
    assert any(r["committee"]["usable"] == 0 for r in voted)
    assert res["models"]["committee"]["invalid"] == sum(r["committee"]["usable"] == 0
                                                        for r in voted)
    assert "committee of the run's students" in (run / "results.md").read_text()
    with pytest.raises(MckdError, match="baselines.committee=true: .*stages >= 2"):
        _cfg(_gguf(tmp_path), "baselines.committee=true", "stages=1")


def test_committee_sft_gold_adds_that_student_last_and_reruns_only_the_vote(fakes, data_dir,
                                                                           tmp_path):
    from mckd.errors import MckdError

    run = tmp_path / "run"
    _run(data_dir, run, _cfg(_gguf(tmp_path), "baselines.committee=true"))
    n = fakes["train"]
    res, log = _run(data_dir, run, _cfg(_gguf(tmp_path), "baselines.committee=true",
                                        "baselines.committee_sft_gold=true"))
    assert res["complete"] and fakes["train"] == n  # no student trains again
    assert "committee: 4 students (the SFT-on-gold one too) vote each test output" in log
    assert "[redo] committee" in log
    voted = read_jsonl(run / res["models"]["committee"]["labels"])
    assert {r["committee"]["members"] for r in voted} == {4}
    done = json.loads((run / "steps/committee_test/done.json").read_text())
    assert done["result"]["members"][-1] == "sft_gold_test"
    for off in ("baselines.committee=false", "baselines.sft_gold=false"):
        with pytest.raises(MckdError, match="committee_sft_gold=true .* needs"):
            _cfg(_gguf(tmp_path), "baselines.committee=true", "baselines.committee_sft_gold=true",
                 off)


def test_committee_threshold_is_its_own_setting_and_reruns_only_the_vote(fakes, data_dir,
                                                                        tmp_path, monkeypatch):
    import mckd.teacher.vote
    from mckd.errors import MckdError
    from mckd.teacher.vote import consensus_tree

    run = tmp_path / "run"
    _run(data_dir, run, _cfg(_gguf(tmp_path), "baselines.committee=true"))
    # the fake students agree tree for tree, so the vote's threshold is read off its calls
    seen = []
    real = mckd.teacher.vote.consensus

    def recording(trees, words, threshold):
        seen.append(threshold)
        return real(trees, words, threshold)

    monkeypatch.setattr(mckd.teacher.vote, "consensus", recording)
    # two votes of three instead of one: nothing but the vote runs again, and the teacher's own
    # threshold (its labels, the stage students) is untouched
    res, log = _run(data_dir, run, _cfg(_gguf(tmp_path), "baselines.committee=true",
                                        "baselines.committee_threshold=0.6"))
    ran = [line for line in log.splitlines() if "[run]" in line]
    assert len(ran) == 1 and "committee: 3 students vote each test output (threshold 0.6)" in ran[0]
    members = ["final_1_test", "s1_A_test", "s1_B_test"]
    outs = [{r["id"]: r for r in read_jsonl(run / f"steps/{m}/labels.jsonl")} for m in members]
    voted = read_jsonl(run / res["models"]["committee"]["labels"])
    for r in voted:
        if r["committee"]["usable"]:
            trees = [o[r["id"]]["output"] for o in outs]
            assert r["output"] == consensus_tree(trees, r["words"], 0.6)
    assert seen and set(seen) == {0.6}
    with pytest.raises(MckdError, match=r"baselines.committee_threshold must be in \[0, 1\), "
                                        r"got 1.0"):
        _cfg(_gguf(tmp_path), "baselines.committee=true", "baselines.committee_threshold=1")


def test_stage_vote_names_a_relabel_record_the_teacher_never_labelled(fakes, data_dir, tmp_path,
                                                                      monkeypatch):
    import mckd.student.relabel
    import mckd.teacher
    from mckd.errors import MckdError

    def stray_relabel(model_dir, records, out_path, device="auto", **kw):
        _fake_relabel(model_dir, records, out_path)
        recs = read_jsonl(out_path)
        write_jsonl_atomic(out_path, recs + [{**recs[0], "id": "stray#1"}])
        return {"n": len(recs) + 1}

    monkeypatch.setattr(mckd.teacher, "run_teacher", _fake_voting_teacher)
    monkeypatch.setattr(mckd.student.relabel, "relabel", stray_relabel)
    run = tmp_path / "run"
    with pytest.raises(MckdError, match=r"labels_1_[AB]/labels\.jsonl: record 'stray#1' is not "
                                        r"in the teacher's labels of the pool"):
        _run(data_dir, run, _cfg(_gguf(tmp_path), "stage_vote=true"))
    # nothing half-written: the vote step is not done, the relabels it read are kept
    assert not (run / "steps/voted_1_A/done.json").exists()
    assert (run / "steps/labels_1_A/done.json").exists()


def test_parse_committee_refuses_a_vote_threshold_out_of_range(tmp_path, capsys):
    f = tmp_path / "in.txt"
    f.write_text("a b\n")
    assert main(["parse", str(tmp_path / "m1"), str(f), "--with", str(tmp_path / "m2"),
                 "--vote-threshold", "1.5"]) == 2
    assert "--vote-threshold must be in [0, 1), got 1.5" in capsys.readouterr().err
