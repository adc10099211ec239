import contextlib
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("MCKD_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data, or skip where it is absent (it is never copied into the repo)."""
    if not SHARED.is_dir():
        pytest.skip(f"shared data not found at {SHARED}")
    return SHARED


@pytest.fixture(scope="session")
def craft_dir(shared_data) -> Path:
    d = shared_data / "craft"
    if not any(d.glob("*.tree")):
        pytest.skip("CRAFT treebank absent")
    return d


@pytest.fixture(scope="session")
def small_teacher() -> Path:
    """The packaged SmolLM2 GGUF, or skip where llama-cpp-python or the model is absent."""
    pytest.importorskip("llama_cpp")
    from mckd.errors import MckdError
    from mckd.teacher import resolve_model

    try:
        return resolve_model("smollm2")
    except MckdError as e:
        pytest.skip(str(e))


@pytest.fixture(autouse=True)
def _own_teacher_store(tmp_path_factory, monkeypatch):
    """Each test gets its own shared teacher cache (mckd.teacher.store): never the user's, and
    no test is served outputs another test generated."""
    monkeypatch.setenv("MCKD_TEACHER_CACHE", str(tmp_path_factory.mktemp("store") / "t.sqlite"))


@contextlib.contextmanager
def held_lock(lock_file, what: str, target):
    """Another process (forked) holding mckd's lock on `lock_file` for the block; yields it."""
    import multiprocessing as mp

    from mckd.locks import exclusive

    ready, done = mp.Event(), mp.Event()

    def hold():
        with exclusive(lock_file, what, target):
            ready.set()
            done.wait(30)

    p = mp.get_context("fork").Process(target=hold)
    p.start()
    try:
        assert ready.wait(30)
        yield p
    finally:
        done.set()
        p.join(30)
