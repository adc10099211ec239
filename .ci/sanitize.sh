#!/usr/bin/env bash
# The C++ tree/scoring tests under AddressSanitizer + UBSan.
#
# Builds mckd._core once with -DMCKD_SANITIZE=ON straight through CMake into a directory outside
# the repository (default /tmp/mckd-asan-<hash of the checkout path>, so two checkouts on one
# machine never share a CMake cache; MCKD_ASAN_DIR overrides), stages it next to a copy of
# the Python package, and runs the tree tests against that copy. The normal editable install
# registers a meta-path finder ahead of sys.path, so PYTHONPATH alone would still import the
# unsanitized module: the runner removes that finder and fails unless mckd._core comes from the
# sanitized build. Exits nonzero on any test failure or sanitizer report (both sanitizers abort).
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
ASAN_DIR=${MCKD_ASAN_DIR:-/tmp/mckd-asan-$(printf '%s' "$REPO" | cksum | cut -d' ' -f1)}
PY=${PYTHON:-python}
TESTS=(tests/test_trees.py tests/test_repair.py tests/test_paper_metric.py tests/test_evalb.py tests/test_evalb_matchers.py)

# The editable install builds in an isolated environment, so its build tools may be missing here.
"$PY" -c "import pybind11" 2>/dev/null || "$PY" -m pip install -q "pybind11>=2.12"
command -v cmake >/dev/null || "$PY" -m pip install -q "cmake>=3.15"

version=$(sed -n 's/^version *= *"\(.*\)"/\1/p' pyproject.toml | head -n 1)
# A cache written for another source tree makes cmake refuse to configure; start over instead.
if [ -f "$ASAN_DIR/build/CMakeCache.txt" ] && \
   ! grep -qx "CMAKE_HOME_DIRECTORY:INTERNAL=$REPO" "$ASAN_DIR/build/CMakeCache.txt"; then
  rm -rf "$ASAN_DIR/build"
fi
echo "== sanitize: building mckd._core with ASan+UBSan into $ASAN_DIR/build"
# RelWithDebInfo keeps optimisation (the tests stay fast) and gives line numbers in reports.
cmake -S "$REPO" -B "$ASAN_DIR/build" -DMCKD_SANITIZE=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DSKBUILD_PROJECT_NAME=mckd -DSKBUILD_PROJECT_VERSION="$version" \
  -Dpybind11_DIR="$("$PY" -m pybind11 --cmakedir)" -DPython_EXECUTABLE="$(command -v "$PY")" >/dev/null
cmake --build "$ASAN_DIR/build" -j "$(nproc)"

so=$(find "$ASAN_DIR/build" -maxdepth 1 -name '_core*.so' | head -n 1)
[ -n "$so" ] || { echo "sanitize: no _core*.so built in $ASAN_DIR/build" >&2; exit 1; }
# A fresh copy of the package every run, so a stale or normal _core can never be picked up.
rm -rf "$ASAN_DIR/site"
mkdir -p "$ASAN_DIR/site"
cp -r "$REPO/python/mckd" "$ASAN_DIR/site/mckd"
find "$ASAN_DIR/site/mckd" \( -name '*.so' -o -name '__pycache__' \) -prune -exec rm -rf {} +
cp "$so" "$ASAN_DIR/site/mckd/"

# ASan must be the first library loaded (python itself is not instrumented), and libstdc++ must
# be loaded before ASan initialises, or its __cxa_throw interceptor aborts on the first C++
# exception. Leak checking is off: CPython keeps objects alive at exit that LeakSanitizer would
# report. Reports also go to files, because pytest captures file descriptor 2.
LOGS="$ASAN_DIR/logs"
rm -rf "$LOGS"
mkdir -p "$LOGS"
export LD_PRELOAD="$(gcc -print-file-name=libasan.so):$(gcc -print-file-name=libstdc++.so)${LD_PRELOAD:+:$LD_PRELOAD}"
export ASAN_OPTIONS="detect_leaks=0:halt_on_error=1:exitcode=86:log_path=$LOGS/asan${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:exitcode=87:log_path=$LOGS/ubsan${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
export MCKD_SANITIZED_SITE="$ASAN_DIR/site"
# Hypothesis's example database would otherwise be written into the repository by this run.
export HYPOTHESIS_STORAGE_DIRECTORY="$ASAN_DIR/hypothesis"

reports() {
  compgen -G "$LOGS/*" >/dev/null || return 1
  cat "$LOGS"/* >&2
}

# Self-check: a deliberate heap overflow must be reported and must fail the process; otherwise
# the sanitizer is not active and a clean run below would prove nothing.
set +e
"$PY" -c 'import ctypes; m = ctypes.CDLL(None).malloc; m.restype = ctypes.c_void_p; ctypes.string_at(m(8), 64)' 2>/dev/null
rc=$?
set -e
if [ "$rc" -eq 0 ] || ! grep -qs heap-buffer-overflow "$LOGS"/asan.*; then
  echo "sanitize: self-check failed: a heap overflow went unreported (exit $rc); is ASan preloaded?" >&2
  exit 1
fi
rm -f "$LOGS"/*
echo "== sanitize: self-check ok (deliberate overflow reported, exit $rc)"

echo "== sanitize: running ${TESTS[*]}"
set +e
"$PY" - "${TESTS[@]}" <<'EOF'
import os
import sys

site = os.environ["MCKD_SANITIZED_SITE"]
# The editable install's redirecting finder sits in front of sys.path; drop it.
sys.meta_path[:] = [f for f in sys.meta_path if "ScikitBuild" not in type(f).__name__]
sys.path.insert(0, site)
for name in [m for m in sys.modules if m == "mckd" or m.startswith("mckd.")]:
    del sys.modules[name]

import mckd._core  # noqa: E402

print("sanitize: mckd._core =", mckd._core.__file__, flush=True)
if not os.path.realpath(mckd._core.__file__).startswith(os.path.realpath(site) + os.sep):
    sys.exit(f"sanitize: imported {mckd._core.__file__}, not the sanitized build under {site}")

import pytest  # noqa: E402

sys.exit(pytest.main(["-q", "-p", "no:cacheprovider", *sys.argv[1:]]))
EOF
rc=$?
set -e
if reports; then
  echo "sanitize: FAILED: sanitizer report above (exit $rc)" >&2
  exit 1
fi
if [ "$rc" -ne 0 ]; then
  echo "sanitize: FAILED: tests exited $rc" >&2
  exit "$rc"
fi
echo "== sanitize: passed with no sanitizer report"
