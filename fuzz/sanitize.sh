#!/usr/bin/env bash
# ASan + UBSan build of the Cython twins in a temporary copy of the checkout, then
# (a) the test suite and (b) every fuzz target for a bounded time, under the sanitizers.
#
#   bash fuzz/sanitize.sh [--seconds N] [--jobs J] [--no-tests] [--keep] [run.py options...]
#
# CC picks the compiler (default: what Python was built with, usually gcc).  The
# extensions link the ASan runtime, which must come first in the process: it is
# found with ldd and preloaded.  PYTHONMALLOC=malloc routes every Python allocation
# through malloc, so ASan sees the bounds of bytes objects too.  Leak reports are
# off (CPython does not free its own state at exit); run.py checks for leaks itself.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
python=${PYTHON:-python3}
seconds=30 jobs=2 tests=1 keep=0
extra=()
while [ $# -gt 0 ]; do
  case $1 in
    --seconds) seconds=$2; shift 2 ;;
    --jobs) jobs=$2; shift 2 ;;
    --no-tests) tests=0; shift ;;
    --keep) keep=1; shift ;;
    *) extra+=("$1"); shift ;;
  esac
done

work=$(mktemp -d "${TMPDIR:-/tmp}/fastseg-sanitize.XXXXXX")
[ "$keep" = 1 ] || trap 'rm -rf "$work"' EXIT
tar -C "$repo" --exclude=./.venv --exclude=./build --exclude='./fastseg/*.so' \
    --exclude='./fastseg/*.c' \
      --exclude='./fastseg/*/*.c' --exclude='./fastseg/*/*.so' --exclude=./.git --exclude=./fuzz/.work -cf - . | tar -C "$work" -xf -
cd "$work"

echo "== sanitizer build (ASan + UBSan) in $work"
# Build requirements (a Python 3.12+ venv has no setuptools of its own).
"$python" -c 'import Cython, setuptools' 2>/dev/null || "$python" -m pip install -q "cython>=3" setuptools
[ "$tests" = 0 ] || "$python" -c 'import xdist' 2>/dev/null || "$python" -m pip install -q pytest-xdist
start=$SECONDS
FASTSEG_SANITIZE=1 FASTSEG_REQUIRE_EXTENSIONS=1 "$python" setup.py -q build_ext --inplace \
  --parallel "$jobs" > build.log 2>&1 || { cat build.log; exit 1; }
ext=$(ls fastseg/_codec_c*.so)
runtime=$(ldd "$ext" | awk '/libasan\.so/ {print $3; exit}')
if [ -z "$runtime" ]; then  # clang: the runtime is left to the executable
  runtime=$(clang -print-file-name=libclang_rt.asan-x86_64.so)
fi
[ -f "$runtime" ] || { echo "no ASan runtime found for $ext"; exit 1; }
echo "   built in $((SECONDS - start))s; runtime $runtime"

# Wireshark's tools (which the tests run as oracles) deadlock with the ASan runtime
# preloaded: give them shims that drop it.
shims=$work/.tool-shims
mkdir -p "$shims"
for tool in tshark editcap mergecap capinfos; do
  real=$(command -v "$tool") || continue
  printf '#!/bin/sh\nunset LD_PRELOAD\nexec %s "$@"\n' "$real" > "$shims/$tool"
  chmod +x "$shims/$tool"
done
export PATH="$shims:$PATH"

export LD_PRELOAD=$runtime FASTSEG_ASAN_RUNTIME=$runtime
export ASAN_OPTIONS=detect_leaks=0:symbolize=1:detect_stack_use_after_return=1:strict_string_checks=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export PYTHONMALLOC=malloc FASTSEG_REQUIRE_EXTENSIONS=1 PYTHONPATH=$work

# The sanitized modules must be the ones imported, and ASan must be live in them.
"$python" -c 'import fastseg, sys; assert fastseg.IMPLEMENTATION == "cython"; print("   imports", fastseg.__file__)'

status=0
if [ "$tests" = 1 ]; then
  echo "== test suite under ASan + UBSan"
  start=$SECONDS
  # test_leaks counts pymalloc blocks, which PYTHONMALLOC=malloc leaves at zero: it runs
  # (and means something) in the ordinary CI; run.py's leak check covers this build.
  set +e  # with pipefail, "|| true" would hide pytest's status from PIPESTATUS
  # Left out: the pictures' tests import matplotlib, which dies silently (exit 1) when
  # loaded under the preloaded ASan runtime (they draw in Python); the tests against the
  # kernel in real time and the stateful campaigns exercise Python logic over the codec
  # for minutes, which the ordinary runs cover: here they only add time, and timing.
  # test_dask.py starts a cluster of worker processes that read captures with the same
  # compiled reader test_capture.py and test_columns.py run here in-process (CI's Dask
  # step runs it on the ordinary build).
  skipped=(test_graphs.py test_report_browser.py test_conn_kernel.py test_conn_kernel_wire.py
           test_net_tun.py test_net_aio_kernel.py test_cli_stack.py test_conn_stateful.py
           test_host_stateful.py test_fuzzlive.py test_dask.py)
  # pytest-xdist spreads the tests over $jobs processes, each taking the next when done.
  "$python" -m pytest tests -n "$jobs" -q -p no:cacheprovider \
    --deselect tests/test_leaks.py::test_no_growth "${skipped[@]/#/--ignore=tests/}" \
    2>&1 | tee pytest.log | tail -n 5
  rc=${PIPESTATUS[0]}
  set -e
  if [ "$rc" != 0 ] || grep -qE 'ERROR: AddressSanitizer|runtime error:' pytest.log; then
    echo "   FAILED (exit $rc)"; grep -E -A30 'ERROR: AddressSanitizer|runtime error:' pytest.log | head -60
    status=1
  else
    echo "   passed in $((SECONDS - start))s"
  fi
fi

echo "== fuzz targets under ASan + UBSan"
unset LD_PRELOAD  # run.py sets it for the fuzzers only
"$python" fuzz/run.py --sanitize --seconds "$seconds" --jobs "$jobs" --work "$work/fuzz-work" \
  ${extra[@]+"${extra[@]}"} || status=1
if [ "$status" != 0 ] && [ "$keep" = 0 ]; then
  mkdir -p "$repo/fuzz/.work" && cp -r "$work/fuzz-work/artifacts" "$repo/fuzz/.work/" 2>/dev/null || true
  echo "crash inputs copied to $repo/fuzz/.work/artifacts"
fi
exit $status
