"""`mckd parse` in a deployment that has only mckd, ctranslate2 and tokenizers (+ numpy and
pyyaml, which ctranslate2 needs): a plain venv without system site-packages, so torch and
transformers cannot be imported there.

The wheels of the versions installed here are fetched with `pip download` (pip's cache or the
index) and installed with `pip install --no-deps --no-index`; where that is impossible (offline,
no cache) the same distributions' installed files are copied in from their RECORDs. mckd itself
goes on PYTHONPATH as the built package (sources + the compiled _core), as an installed wheel
would lay it out.
"""

import importlib.metadata as md
import random
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("ctranslate2")

pytestmark = pytest.mark.slow

DEPLOY = ("ctranslate2", "tokenizers", "numpy", "PyYAML")
VOCAB = "the a gene protein binds to of in mouse cells was were observed these".split()


def _right_branching(words):
    t = f"( {words[-1]} )"
    for w in reversed(words[:-1]):
        t = f"( ( {w} ) {t} )"
    return t


def _site_packages(env_dir: Path) -> Path:
    out = subprocess.run([str(env_dir / "bin" / "python"), "-c",
                          "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                         capture_output=True, text=True, check=True)
    return Path(out.stdout.strip())


def _install_deploy_deps(env_dir: Path, work: Path) -> str:
    """Install DEPLOY into the venv; returns how ("pip" or "copied")."""
    pins = [f"{d}=={md.version(d)}" for d in DEPLOY]
    wh = work / "wheels"
    try:
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps",
                        "--only-binary=:all:", "-d", str(wh), *pins],
                       check=True, capture_output=True, timeout=300)
        subprocess.run([str(env_dir / "bin" / "python"), "-m", "pip", "install", "-q",
                        "--no-deps", "--no-index", *map(str, sorted(wh.glob("*.whl")))],
                       check=True, capture_output=True, timeout=300)
        return "pip"
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
        pass
    site = _site_packages(env_dir)
    for d in DEPLOY:
        for f in md.distribution(d).files or []:
            if str(f).startswith(".."):
                continue  # console scripts outside site-packages
            src = Path(f.locate())
            if src.is_file():
                (site / f).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, site / f)
    return "copied"


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    """(python of the torch-free venv, env vars, exported MODEL_DIR)."""
    from mckd.student.export import export_student
    from mckd.student.config import TrainConfig
    from mckd.student.train import train_student

    work = tmp_path_factory.mktemp("offline")
    rng = random.Random(0)
    recs = []
    for i in range(24):
        w = [rng.choice(VOCAB) for _ in range(rng.randint(3, 6))]
        recs.append({"id": str(i), "words": w, "target": _right_branching(w)})
    cfg = TrainConfig(arch="t5-micro", epochs=1, max_steps=3, batch_size=8, threads=1,
                      quiet=True, vocab_size=100)
    student = train_student(recs, work / "student", cfg)
    model_dir = work / "model"
    export_student(student, model_dir, quantization="int8")

    py, env, how = torch_free_env(work)
    return py, env, model_dir, how


def torch_free_env(work: Path):
    """(python, env vars, how the deps were installed) of a venv under `work` holding only
    the deployment's packages, with mckd laid out as an installed wheel lays it out: the
    Python sources plus the compiled _core. tests/test_causal_student.py uses it too."""
    import mckd
    import mckd._core

    env_dir = work / "venv"
    venv.EnvBuilder(system_site_packages=False, with_pip=True, clear=True).create(env_dir)
    how = _install_deploy_deps(env_dir, work)
    pkgs = work / "pkgs"
    shutil.copytree(Path(mckd.__file__).parent, pkgs / "mckd",
                    ignore=shutil.ignore_patterns("__pycache__"))
    core = Path(mckd._core.__file__)
    if not (pkgs / "mckd" / core.name).exists():
        shutil.copy2(core, pkgs / "mckd" / core.name)
    env = {"PATH": f"{env_dir / 'bin'}:/usr/bin:/bin", "PYTHONPATH": str(pkgs),
           "PYTHONNOUSERSITE": "1", "HOME": str(work), "LC_ALL": "C.UTF-8"}
    return env_dir / "bin" / "python", env, how


def _run(py, env, *args, stdin=None):
    return subprocess.run([str(py), *args], env=env, input=stdin, capture_output=True, text=True,
                          timeout=300)


def test_the_venv_has_no_torch_or_transformers(deployment):
    py, env, _, how = deployment
    r = _run(py, env, "-c", "import sys; print(sys.prefix != sys.base_prefix)")
    assert r.stdout.strip() == "True", r.stderr
    for mod in ("torch", "transformers"):
        r = _run(py, env, "-c", f"import {mod}")
        assert r.returncode != 0 and "ModuleNotFoundError" in r.stderr, (mod, how)
    r = _run(py, env, "-c", "import ctranslate2, tokenizers, mckd._core; print('ok')")
    assert r.stdout.strip() == "ok", r.stderr


def test_parse_runs_offline_from_file_and_stdin(deployment, tmp_path):
    from mckd.trees import parse_tree

    py, env, model_dir, _ = deployment
    sentences = ["the gene binds a protein", "these cells were observed in mouse", "gene"]
    f = tmp_path / "in.txt"
    f.write_text("\n".join(sentences) + "\n", encoding="utf-8")
    guard = ("import sys, runpy; sys.argv = ['mckd'] + sys.argv[1:]; "
             "import mckd.cli; rc = mckd.cli.main(sys.argv[1:]); "
             "bad = [m for m in ('torch', 'transformers') if m in sys.modules]; "
             "assert not bad, bad; sys.exit(rc)")
    r = _run(py, env, "-c", guard, "parse", str(model_dir), str(f))
    assert r.returncode == 0, r.stderr
    trees = r.stdout.splitlines()
    assert [parse_tree(t).words for t in trees] == [s.split() for s in sentences]

    # a committee of two copies of one student agrees with it span for span, still torch-free
    from mckd.metrics.spans import spans

    r = _run(py, env, "-c", guard, "parse", str(model_dir), str(f), "--with", str(model_dir))
    assert r.returncode == 0, r.stderr
    voted = r.stdout.splitlines()
    assert [parse_tree(t).words for t in voted] == [s.split() for s in sentences]
    assert [spans(t) for t in voted] == [spans(t) for t in trees]

    r = _run(py, env, "-m", "mckd.cli", "parse", str(model_dir), stdin="the protein\n")
    assert r.returncode == 0, r.stderr
    assert parse_tree(r.stdout.strip()).words == ["the", "protein"]

    r = _run(py, env, "-m", "mckd.cli", "parse", str(tmp_path / "missing"))
    assert r.returncode == 2 and "model folder not found" in r.stderr


def test_parse_compute_type(deployment, tmp_path):
    """--compute-type reaches CTranslate2: float32 trees do not depend on the batch (int8's may,
    README), and a type the device cannot run is a clear error naming the model folder."""
    from mckd.trees import parse_tree

    py, env, model_dir, _ = deployment
    sentences = ["the gene binds a protein", "these cells were observed in mouse",
                 "a protein of the mouse binds to these cells in the gene", "gene"]
    f = tmp_path / "in.txt"
    f.write_text("\n".join(sentences) + "\n", encoding="utf-8")
    outs = []
    for batch in ("1", "4"):
        r = _run(py, env, "-m", "mckd.cli", "parse", str(model_dir), str(f), "--batch", batch,
                 "--compute-type", "float32", "--device", "cpu")
        assert r.returncode == 0, r.stderr
        outs.append(r.stdout.splitlines())
    assert outs[0] == outs[1]
    assert [parse_tree(t).words for t in outs[0]] == [s.split() for s in sentences]

    r = _run(py, env, "-m", "mckd.cli", "parse", str(model_dir), str(f), "--device", "cpu",
             "--compute-type", "float16")
    assert r.returncode == 2 and str(model_dir) in r.stderr and "float16" in r.stderr, r.stderr
