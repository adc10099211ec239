"""The teacher behind an OpenAI-compatible server: grammar, real server, failures, resume.

A real llama-cpp-python server (`python -m llama_cpp.server`, the `server` extra) with the
packaged SmolLM2 labels a few sentences; a small stdlib HTTP server plays the failures (500s,
slow replies) that a real one cannot be made to produce on demand.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from mckd.errors import MckdError
from mckd.teacher import TeacherConfig, run_teacher
from mckd.teacher.constraint import TreeGrammar
from mckd.teacher.gbnf import tree_gbnf
from test_teacher import DEMOS, INPUTS, assert_tree_over

# ------------------------------------------------------------------ a GBNF recognizer


def _parse_gbnf(text: str) -> dict[str, list[list[tuple[str, str]]]]:
    """rule -> alternatives, each a list of ('lit', s) / ('ref', name); the subset we write."""
    rules: dict[str, list] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        name, body = line.split(" ::= ", 1)
        alts, seq, i = [], [], 0
        while i < len(body):
            ch = body[i]
            if ch == " ":
                i += 1
            elif ch == "|":
                alts.append(seq)
                seq, i = [], i + 1
            elif ch == '"':
                j, buf = i + 1, []
                while body[j] != '"':
                    if body[j] == "\\":
                        j += 1
                        buf.append({"n": "\n"}.get(body[j], body[j]))
                    else:
                        buf.append(body[j])
                    j += 1
                seq.append(("lit", "".join(buf)))
                i = j + 1
            else:
                j = i
                while j < len(body) and body[j] not in ' |"':
                    j += 1
                seq.append(("ref", body[i:j]))
                i = j
        alts.append(seq)
        rules[name] = alts
    return rules


def accepts(gbnf: str, text: str) -> bool:
    rules = _parse_gbnf(gbnf)
    memo: dict = {}

    def ends(name: str, pos: int) -> set[int]:
        key = (name, pos)
        if key in memo:
            return memo[key]
        memo[key] = set()
        out: set[int] = set()
        for seq in rules[name]:
            cur = {pos}
            for kind, v in seq:
                nxt: set[int] = set()
                for p in cur:
                    if kind == "lit":
                        if text.startswith(v, p):
                            nxt.add(p + len(v))
                    else:
                        nxt |= ends(v, p)
                cur = nxt
            out |= cur
        memo[key] = out
        return out

    return len(text) in ends("root", 0)


def test_grammar_accepts_exactly_the_trees_over_the_words():
    g = TreeGrammar("unlabeled")
    for d in DEMOS:
        gb = tree_gbnf(d["words"], g)
        assert accepts(gb, ":" + d["targets"]["unlabeled"]), d["id"]
    words = ["The", "dog", "barked", "."]
    gb = tree_gbnf(words, g)
    good = ":( ( ( The ) ( dog ) ) ( barked ) ( . ) )"
    assert accepts(gb, good)
    for bad in (good[1:],                                          # no healed ':'
                ":( ( ( dog ) ( The ) ) ( barked ) ( . ) )",       # words out of order
                ":( ( ( The ) ( dog ) ) ( barked ) )",             # a word missing
                ":( ( ( The ) ( dog ) ) ( barked ) ( . ) ( . ) )",  # a word too many
                ":( ( ( The ) ( dog ) ) ( barked ) ( . ) ) )",     # unbalanced
                ":( ( ) ( ( The ) ( dog ) ) ( barked ) ( . ) )",   # an empty bracket
                ":( The ( dog ) ( barked ) ( . ) )",               # a word at the root
                ":( ( ( The ) ( dog ) ) ( barked ) ( . ) )\n"):    # anything after the tree
        assert not accepts(gb, bad), bad


def test_labeled_grammar_and_escaping():
    g = TreeGrammar.from_targets("labeled", [d["targets"]["labeled"] for d in DEMOS])
    for d in DEMOS:
        assert accepts(tree_gbnf(d["words"], g), ":" + d["targets"]["labeled"]), d["id"]
    words = ['say', '"hi"', 'a\\b']
    gb = tree_gbnf(words, g)
    assert accepts(gb, ':(S (VP (VBD say) (NP (NN "hi") (NN a\\b))))')
    assert not accepts(gb, ':(S (VP (VBD say) (NP (NN "hi") (NN ab))))')
    assert not accepts(gb, ':(S (VP (XYZ say) (NP (NN "hi") (NN a\\b))))')  # unknown label
    with pytest.raises(MckdError, match="no server grammar"):
        tree_gbnf(words, TreeGrammar("skeleton", ["S"], ["NN"]))


def test_grammar_parses_in_llama_cpp():
    llama_cpp = pytest.importorskip("llama_cpp")
    words = "Mice lacking p53 -LRB- n = 12 -RRB- survived .".split()
    gb = tree_gbnf(words, TreeGrammar("unlabeled"))
    assert llama_cpp.LlamaGrammar.from_string(gb, verbose=False) is not None


# ------------------------------------------------------------------ a scripted fake server


class _Fake(BaseHTTPRequestHandler):
    script: list = []  # per /v1/completions request: ("ok", text) | ("status", code) | ("sleep", s)
    calls: list = []

    def log_message(self, *a):
        pass

    def _send(self, code: int, obj: dict) -> None:
        data = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self._send(200, {"object": "list", "data": [{"id": "fake-model", "owned_by": "me"}]})

    def do_POST(self):
        n = int(self.headers.get("Content-Length", 0))
        body = json.loads(self.rfile.read(n))
        type(self).calls.append({"body": body, "auth": self.headers.get("Authorization")})
        kind, arg = type(self).script.pop(0) if type(self).script else ("ok", None)
        if kind == "status":
            return self._send(arg, {"error": {"message": f"scripted {arg}"}})
        if kind == "sleep":
            time.sleep(arg)
        if kind in ("cut", "latin1", "null"):  # replies that arrive broken (issue 37 item 1)
            if kind == "null":
                return self._send(200, {"choices": [{"text": None, "finish_reason": "stop"}]})
            data = (b'{"choices": [{"text": "caf\xe9"}]}' if kind == "latin1" else
                    b'{"choices": [{"text": ":( ( a')
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            # a cut-off reply promises more bytes than it sends, then closes
            self.send_header("Content-Length", str(len(data) + (100 if kind == "cut" else 0)))
            self.end_headers()
            self.wfile.write(data)
            self.wfile.flush()
            self.close_connection = True
            return
        words = body["prompt"].rsplit("Input:", 1)[1].split("\n", 1)[0].split()
        text = arg or ":( " + " ".join(f"( {w} )" for w in words) + " )"
        self._send(200, {"choices": [{"text": text, "finish_reason": "stop",
                                      "logprobs": {"token_logprobs": [-0.5, -1.5]}}],
                         "usage": {"completion_tokens": 2}})


@pytest.fixture
def fake_server():
    _Fake.script, _Fake.calls = [], []
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Fake)
    srv.handle_error = lambda request, address: None  # a client that timed out: broken pipe
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}", _Fake
    srv.shutdown()
    srv.server_close()


def _cfg(url: str, tmp_path: Path, **kw) -> TeacherConfig:
    base = dict(format="unlabeled", shots=3, demo_selection="fixed", url=url, progress=False,
                retries=2, timeout_s=5.0, concurrency=2, cache_path=str(tmp_path / "c.jsonl"))
    base.update(kw)
    return TeacherConfig(**base)


def test_fake_server_outputs_grammar_key_and_cache(fake_server, tmp_path, monkeypatch):
    url, fake = fake_server
    monkeypatch.setenv("MCKD_TEACHER_API_KEY", "sekrit")
    s = run_teacher(None, DEMOS, INPUTS[:3], tmp_path / "o.jsonl", _cfg(url, tmp_path))
    assert s["generated"] == 3 and s["valid"] == 3
    body = fake.calls[0]["body"]
    assert "grammar" in body and body["grammar"].startswith('root ::= ":"')
    assert body["prompt"].endswith("\nOutput") and fake.calls[0]["auth"] == "Bearer sekrit"
    recs = [json.loads(x) for x in (tmp_path / "o.jsonl").read_text().splitlines()]
    assert recs[0]["output"] == "( " + " ".join(f"( {w} )" for w in recs[0]["words"]) + " )"
    assert recs[0]["logprob"] == -1.0 and recs[0]["teacher"]["server"]["model"] == "fake-model"
    assert "sekrit" not in (tmp_path / "o.jsonl").read_text()
    assert "sekrit" not in (tmp_path / "c.jsonl").read_text()
    # a new --out, same cache: nothing is asked again
    n = len(fake.calls)
    again = run_teacher(None, DEMOS, INPUTS[:3], tmp_path / "o2.jsonl", _cfg(url, tmp_path))
    assert again["cached"] == 3 and again["generated"] == 0 and len(fake.calls) == n


def test_fake_server_unconstrained_output_is_repaired_and_raw_kept(fake_server, tmp_path):
    url, fake = fake_server
    fake.script = [("ok", ":( ( The ) ( gene ) is expressed ) )")]
    s = run_teacher(None, DEMOS, INPUTS[:1], tmp_path / "o.jsonl",
                    _cfg(url, tmp_path, grammar="none"))
    assert "grammar" not in fake.calls[0]["body"] and fake.calls[0]["body"]["stop"] == ["\n"]
    rec = json.loads((tmp_path / "o.jsonl").read_text())
    assert rec["output"] == "( ( The ) ( gene ) is expressed ) )"  # the model's own text
    assert rec["repaired"] and not rec["valid"] and s["repaired"] == 1
    assert_tree_over(rec["target"], INPUTS[0]["source"].split(), "unlabeled")


def test_fake_server_500_is_retried_then_succeeds(fake_server, tmp_path):
    url, fake = fake_server
    fake.script = [("status", 500), ("status", 503)]
    s = run_teacher(None, DEMOS, INPUTS[:1], tmp_path / "o.jsonl",
                    _cfg(url, tmp_path, concurrency=1))
    assert s["valid"] == 1 and len(fake.calls) == 3


def test_fake_server_500_forever_keeps_finished_outputs(fake_server, tmp_path):
    url, fake = fake_server
    fake.script = [("ok", None), ("ok", None)] + [("status", 500)] * 10
    with pytest.raises(MckdError, match=r"HTTP 500.*gave up after 3 tries.*2 outputs"):
        run_teacher(None, DEMOS, INPUTS[:4], tmp_path / "o.jsonl",
                    _cfg(url, tmp_path, concurrency=1))
    fake.script = []
    s = run_teacher(None, DEMOS, INPUTS[:4], tmp_path / "o.jsonl",
                    _cfg(url, tmp_path, concurrency=1))
    assert s["cached"] == 2 and s["generated"] == 2


@pytest.mark.parametrize("kind", ["cut", "latin1", "null"])
def test_fake_server_broken_reply_is_retried_and_costs_no_other_output(fake_server, tmp_path,
                                                                       kind):
    # issue 37 item 1: a cut-off, non-UTF-8 or "text": null reply escaped as a raw traceback,
    # was not retried, and threw away what the other requests in flight had finished
    url, fake = fake_server
    fake.script = [(kind, None)]
    s = run_teacher(None, DEMOS, INPUTS[:4], tmp_path / "o.jsonl",
                    _cfg(url, tmp_path, concurrency=2))
    assert s["valid"] == 4 and len(fake.calls) == 5  # one retry, nothing else asked again
    # broken for good: one clear line, and the outputs that did arrive are kept
    fake.calls.clear()
    fake.script = [("ok", None), (kind, None), (kind, None), (kind, None)]
    with pytest.raises(MckdError, match=r"teacher server .*(cut off|not UTF-8|not text).*"
                                        r"gave up after 3 tries.* 1 outputs"):
        run_teacher(None, DEMOS, INPUTS[4:6], tmp_path / "o2.jsonl",
                    _cfg(url, tmp_path, concurrency=1, cache_path=str(tmp_path / "c2.jsonl")))
    fake.script = []
    s = run_teacher(None, DEMOS, INPUTS[4:6], tmp_path / "o2.jsonl",
                    _cfg(url, tmp_path, concurrency=1, cache_path=str(tmp_path / "c2.jsonl")))
    assert s["cached"] == 1 and s["generated"] == 1


def test_fake_server_slow_reply_times_out_clearly(fake_server, tmp_path):
    url, fake = fake_server
    fake.script = [("sleep", 3.0)] * 3
    t0 = time.time()
    with pytest.raises(MckdError, match=r"no reply within 1s.*gave up after 2 tries"):
        run_teacher(None, DEMOS, INPUTS[:1], tmp_path / "o.jsonl",
                    _cfg(url, tmp_path, timeout_s=1.0, retries=1, concurrency=1))
    assert time.time() - t0 < 10


def test_fake_server_client_errors_fail_at_once(fake_server, tmp_path):
    url, fake = fake_server
    fake.script = [("status", 401)]
    with pytest.raises(MckdError, match=r"refused the API key.*MCKD_TEACHER_API_KEY"):
        run_teacher(None, DEMOS, INPUTS[:1], tmp_path / "o.jsonl", _cfg(url, tmp_path))
    assert len(fake.calls) == 1  # not retried
    fake.script = [("status", 400)]
    with pytest.raises(MckdError, match=r"HTTP 400: .*scripted 400"):
        run_teacher(None, DEMOS, INPUTS[:1], tmp_path / "o.jsonl", _cfg(url, tmp_path))


def test_unreachable_server_names_the_url(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    with pytest.raises(MckdError, match=rf"127.0.0.1:{port}/v1/models.*cannot connect"):
        run_teacher(None, DEMOS, INPUTS[:1], tmp_path / "o.jsonl",
                    _cfg(f"http://127.0.0.1:{port}", tmp_path, retries=0))
    with pytest.raises(MckdError, match="teacher.url"):
        run_teacher(None, DEMOS, INPUTS[:1], tmp_path / "o.jsonl", _cfg("localhost:8000", tmp_path))
    # issue 37 item 10: port 99999 was retried five times as "connection refused"
    for url, what in (("http://127.0.0.1:99999", "out of range"), ("http://127.0.0.1:x", "port"),
                      ("http://:8000", "no host"), ("http://127.0.0.1:0", "port 0")):
        t0 = time.monotonic()
        with pytest.raises(MckdError, match=rf"(?i)teacher.url .*{what}"):
            run_teacher(None, DEMOS, INPUTS[:1], tmp_path / "o.jsonl", _cfg(url, tmp_path))
        assert time.monotonic() - t0 < 5  # refused at once, no backoff


# ------------------------------------------------------------------ a real llama.cpp server


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_server(model: Path, port: int, *extra: str) -> subprocess.Popen:
    pytest.importorskip("llama_cpp.server.app", reason="needs llama-cpp-python[server]")
    p = subprocess.Popen([sys.executable, "-m", "llama_cpp.server", "--model", str(model),
                          "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048",
                          "--n_threads", "1", *extra],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return p
        except OSError:
            if p.poll() is not None:
                pytest.fail("llama_cpp.server exited at start")
            time.sleep(0.5)
    p.kill()
    pytest.fail("llama_cpp.server did not start within 120 s")


@pytest.fixture(scope="module")
def real_server(small_teacher):
    port = _free_port()
    p = _start_server(small_teacher, port, "--api_key", "right-key")
    yield f"http://127.0.0.1:{port}"
    p.send_signal(signal.SIGTERM)
    p.wait(timeout=30)


@pytest.mark.slow
def test_real_server_labels_valid_trees_and_compares_with_in_process(
        real_server, small_teacher, tmp_path, monkeypatch):
    monkeypatch.setenv("MCKD_TEACHER_API_KEY", "right-key")
    inputs = INPUTS[:3]
    # llama-cpp-python's server answers one request at a time: one in flight, a long timeout
    s = run_teacher(None, DEMOS, inputs, tmp_path / "srv.jsonl",
                    _cfg(real_server, tmp_path, concurrency=1, timeout_s=300))
    assert s["valid"] == 3 and s["repaired"] == 0
    srv = [json.loads(x) for x in (tmp_path / "srv.jsonl").read_text().splitlines()]
    for r in srv:
        assert_tree_over(r["output"], r["words"], "unlabeled")
    loc = run_teacher(small_teacher, DEMOS, inputs, tmp_path / "loc.jsonl",
                      TeacherConfig(format="unlabeled", shots=3, demo_selection="fixed",
                                    parallel=1, threads=1, progress=False))
    assert loc["valid"] == 3
    lrec = [json.loads(x) for x in (tmp_path / "loc.jsonl").read_text().splitlines()]
    same = sum(a["output"] == b["output"] for a, b in zip(srv, lrec))
    # Reported, not required: the server grammar admits unary chains the in-process constraint
    # forbids, and llama.cpp's grammar sampler and ours see different logits (batching).
    print(f"\nserver vs in-process, greedy: {same}/{len(srv)} outputs identical")


@pytest.mark.slow
def test_real_server_wrong_key(real_server, tmp_path, monkeypatch):
    monkeypatch.setenv("MCKD_TEACHER_API_KEY", "wrong-key")
    with pytest.raises(MckdError, match=r"refused the API key \(HTTP 401"):
        run_teacher(None, DEMOS, INPUTS[:1], tmp_path / "o.jsonl", _cfg(real_server, tmp_path))
    monkeypatch.delenv("MCKD_TEACHER_API_KEY")
    with pytest.raises(MckdError, match=r"set the key in \$MCKD_TEACHER_API_KEY"):
        run_teacher(None, DEMOS, INPUTS[:1], tmp_path / "o.jsonl", _cfg(real_server, tmp_path))


@pytest.mark.slow
def test_real_server_dies_mid_run_then_resume_after_kill9(small_teacher, tmp_path):
    """`mckd teach` against a server killed mid-run fails naming it and keeps what finished;
    the same command killed with SIGKILL and run again resumes from the cache."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    demos, inp = tmp_path / "demos.jsonl", tmp_path / "in.jsonl"
    demos.write_text("".join(json.dumps(d) + "\n" for d in DEMOS))
    inp.write_text("".join(json.dumps(x) + "\n" for x in INPUTS))
    out = tmp_path / "out.jsonl"
    cache = Path(str(out) + ".cache.jsonl")
    cmd = [sys.executable, "-m", "mckd.cli", "teach", "--teacher-url", url, "--demos", str(demos),
           "--input", str(inp), "--out", str(out), "--shots", "3", "--demo-selection", "fixed",
           "--grammar", "none", "--concurrency", "1", "--retries", "1", "--timeout", "120",
           "--no-progress"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("MCKD_TEACHER_API_KEY", None)

    def items() -> int:
        if not cache.exists():
            return 0
        return sum(1 for line in cache.read_text().splitlines() if '"kind": "item"' in line)

    def wait_items(proc, n, limit=180):
        deadline = time.time() + limit
        while items() < n and time.time() < deadline and proc.poll() is None:
            time.sleep(0.2)
        return items()

    srv = _start_server(small_teacher, port)
    try:
        run = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
        assert wait_items(run, 2) >= 2, run.poll() is not None and run.communicate()[1]
        run.send_signal(signal.SIGKILL)  # kill -9 the client
        run.wait()
        done = items()
        run = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
        assert wait_items(run, done + 1) >= done + 1
        srv.kill()  # the server dies mid-run
        srv.wait()
        _, err = run.communicate(timeout=120)
        assert run.returncode != 0
        assert f"teacher server {url}" in err and "cannot connect" in err, err
        assert "run the same command again to resume" in err
        kept = items()
        assert kept >= done + 1
        srv = _start_server(small_teacher, port)  # back up: the rest, nothing twice
        r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, r.stderr
        assert f"{kept} from cache" in r.stderr
        assert items() == len(INPUTS)
        recs = [json.loads(x) for x in out.read_text().splitlines()]
        assert [r["id"] for r in recs] == [x["id"] for x in INPUTS]
        for rec in recs:
            assert_tree_over(rec["target"], rec["words"], "unlabeled")
    finally:
        srv.kill()
        srv.wait()


def test_shared_store_serves_a_new_out_and_cache_file(fake_server, tmp_path):
    """Issue 10: one teacher cache for every command: a new --out with its own JSONL cache is
    served from the shared store; switched off, the teacher is asked again."""
    url, fake = fake_server
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    for d in (a, b, c):
        d.mkdir()
    s = run_teacher(None, DEMOS, INPUTS[:3], a / "o.jsonl", _cfg(url, a))
    assert s["generated"] == 3 and s["from_shared_cache"] == 0
    n = len(fake.calls)
    again = run_teacher(None, DEMOS, INPUTS[:3], b / "o.jsonl", _cfg(url, b))
    assert again["generated"] == 0 and again["from_shared_cache"] == 3 and len(fake.calls) == n
    assert (a / "o.jsonl").read_text() == (b / "o.jsonl").read_text()
    # the run's own cache was filled too: it resumes without the store
    assert sum('"kind": "item"' in x for x in (b / "c.jsonl").read_text().splitlines()) == 3
    off = run_teacher(None, DEMOS, INPUTS[:3], c / "o.jsonl", _cfg(url, c, shared_cache=False))
    assert off["generated"] == 3 and len(fake.calls) == n + 3


def test_server_that_ignores_the_grammar_is_reported_and_never_cached(fake_server, tmp_path):
    # issue 37 item 2: the run exited 0 ("8 inputs, 0 valid, 8 repaired") and the shared cache
    # kept the broken outputs under the server's identity, serving them after the server was fixed
    from mckd.teacher.store import open_store

    url, fake = fake_server
    fake.script = [("ok", ":( ( The ) gene ) )")] * 3  # grammar sent, ignored
    with pytest.raises(MckdError, match=r"3 of 3 outputs .* broke the constraint.*max_broken=0"):
        run_teacher(None, DEMOS, INPUTS[:3], tmp_path / "o.jsonl", _cfg(url, tmp_path))
    assert not (tmp_path / "o.jsonl").exists()
    # accepted on purpose: counted, repaired, still not stored as good labels
    fake.script = [("ok", ":( ( The ) gene ) )")] * 3
    s = run_teacher(None, DEMOS, INPUTS[:3], tmp_path / "o.jsonl",
                    _cfg(url, tmp_path, max_broken=1.0))
    assert s["broke_constraint"] == 3 and s["valid"] == 0 and s["generated"] == 3
    store = open_store()
    assert sum(r["outputs"] for r in store.summary()) == 0
    store.close()
    # the server fixed: the same run asks again (neither cache serves the broken outputs)
    n = len(fake.calls)
    s = run_teacher(None, DEMOS, INPUTS[:3], tmp_path / "o.jsonl", _cfg(url, tmp_path))
    assert s["generated"] == 3 and s["valid"] == 3 and s["broke_constraint"] == 0
    assert len(fake.calls) == n + 3
    # a share out of range is refused before anything is asked
    with pytest.raises(MckdError, match="max_broken"):
        run_teacher(None, DEMOS, INPUTS[:3], tmp_path / "o.jsonl",
                    _cfg(url, tmp_path, max_broken=1.5))


@pytest.mark.parametrize("damage", ["garbage", "full"])
def test_a_damaged_or_full_shared_cache_costs_a_warning_not_the_run(fake_server, tmp_path,
                                                                     capsys, monkeypatch, damage):
    # issue 37 item 5: garbage in the store's pages, or a full disk under it, stopped every teach
    # and distill with a sqlite3 traceback, although the store is not needed for correctness
    import os

    from mckd.teacher import store as store_mod

    url, fake = fake_server
    path = Path(os.environ["MCKD_TEACHER_CACHE"])
    if damage == "garbage":
        path.write_bytes(b"this is not a database" * 100)
    else:  # every write fails as SQLite does on a full disk
        real = store_mod.Store.put

        def full(self, *a, **k):
            raise store_mod.MckdError(f"{self.path}: shared teacher cache: database or disk is "
                                      "full (set MCKD_TEACHER_CACHE=off to run without it)")
        monkeypatch.setattr(store_mod.Store, "put", full)
    s = run_teacher(None, DEMOS, INPUTS[:3], tmp_path / "o.jsonl", _cfg(url, tmp_path))
    assert s["valid"] == 3 and s["generated"] == 3
    err = capsys.readouterr().err
    assert err.count("goes on without the shared cache") == 1, err  # said once, in one line
    assert str(path) in err
    # the run's own cache is whole: the same run asks nothing again
    n = len(fake.calls)
    s = run_teacher(None, DEMOS, INPUTS[:3], tmp_path / "o.jsonl", _cfg(url, tmp_path))
    assert s["cached"] == 3 and len(fake.calls) == n
    if damage == "full":
        monkeypatch.setattr(store_mod.Store, "put", real)


def test_ctrl_c_during_slow_requests_stops_within_seconds_and_keeps_what_finished(fake_server,
                                                                                   tmp_path):
    # issue 37 item 7: Ctrl-C waited for the requests in flight (up to --timeout, 300 s)
    url, fake = fake_server
    fake.script = [("ok", None), ("ok", None)] + [("sleep", 60.0)] * 10
    demos, inputs = tmp_path / "demos.jsonl", tmp_path / "in.jsonl"
    demos.write_text("".join(json.dumps(d) + "\n" for d in DEMOS))
    inputs.write_text("".join(json.dumps(x) + "\n" for x in INPUTS))
    out = tmp_path / "o.jsonl"
    cache = out.with_name(out.name + ".cache.jsonl")
    p = subprocess.Popen([sys.executable, "-m", "mckd.cli", "teach", "--teacher-url", url,
                          "--demos", str(demos), "--input", str(inputs), "--out", str(out),
                          "--concurrency", "1", "--shots", "3",
                          "--no-progress", "--no-shared-cache"],
                         stderr=subprocess.PIPE, text=True)
    try:
        t_end = time.monotonic() + 60
        while time.monotonic() < t_end and len(fake.calls) < 3:  # two done, the third hangs
            assert p.poll() is None, p.stderr.read()
            time.sleep(0.1)
        assert len(fake.calls) >= 3
        time.sleep(0.5)  # the third request is in flight
        t0 = time.monotonic()
        p.send_signal(signal.SIGINT)
        err = p.communicate(timeout=30)[1]
        assert time.monotonic() - t0 < 5, err
    finally:
        p.kill()
    assert p.returncode == 130 and "interrupted" in err, err
    items = [json.loads(x) for x in cache.read_text().splitlines()]
    assert sum(r.get("kind") == "item" for r in items) == 2


def _right_branching(ws: list[str]) -> str:
    return f"( {ws[0]} )" if len(ws) == 1 else f"( ( {ws[0]} ) {_right_branching(ws[1:])} )"


def test_a_third_backend_is_one_class_and_one_registration(tmp_path):
    # issue 34 item 2: the teacher had no backend seam (run.py branched on `server is not None`)
    from mckd.teacher import backends

    calls = []

    class RightBranching(backends.Backend):
        """Writes the right-branching tree of every input: a teacher without a model."""
        name = "test-right-branching"

        def describe(self, cfg, shas):
            self.model, self.sha256 = "right-branching", None
            return {"backend": self.name}, {"backend": self.name}

        def generate(self, cfg, D, grammar, waves, plan, items, app, record, warn):
            for w in waves:
                for key in w:
                    tree = _right_branching(plan[key][0]["words"])
                    calls.append(key)
                    record(key, {"target": tree, "output": tree, "valid": True,
                                 "repaired": False, "tokens": 0, "logprob_mean": None})
            return {"generated": sum(map(len, waves)), "gen_tokens": 0, "gen_time_s": 0.0,
                    "demos_dropped": 0}

    backends.register(RightBranching)
    try:
        cfg = TeacherConfig(format="unlabeled", shots=2, demo_selection="fixed", progress=False,
                            backend="test-right-branching", cache_path=str(tmp_path / "c.jsonl"))
        s = run_teacher(None, DEMOS, INPUTS[:3], tmp_path / "o.jsonl", cfg)
        assert s["generated"] == 3 and len(calls) == 3
        recs = [json.loads(x) for x in (tmp_path / "o.jsonl").read_text().splitlines()]
        assert all(r["teacher"]["backend"] == "test-right-branching" for r in recs)
        for r, x in zip(recs, INPUTS[:3]):
            assert_tree_over(r["output"], x["source"].split(), "unlabeled")
        # its outputs are cached under its own identity like any backend's
        s = run_teacher(None, DEMOS, INPUTS[:3], tmp_path / "o.jsonl", cfg)
        assert s["cached"] == 3 and len(calls) == 3
    finally:
        del backends.BACKENDS["test-right-branching"]
    with pytest.raises(MckdError, match="teacher backend 'test-right-branching'"):
        run_teacher(None, DEMOS, INPUTS[:1], tmp_path / "o2.jsonl", cfg)
