#!/usr/bin/env bash
# CI mode: coverage-guided fuzzing, then the ASan + UBSan build with the test suite and
# every target replaying and mutating that corpus.  Fails on any crash, sanitizer report,
# twin disagreement, timeout or leak.  Sized for 2 cores and about 6 minutes:
#
#   bash fuzz/ci.sh [SECONDS_PER_TARGET]      (default 40; longer campaigns: raise it)
#
# Why two phases: gcc's ASan runtime exports the __sanitizer_cov_* hooks that atheris'
# libFuzzer needs, which blinds its coverage when preloaded.  So the corpus grows with
# coverage in the ordinary build, and the sanitized build runs over what it found.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
seconds=${1:-40}
python=${PYTHON:-python3}
work=$(mktemp -d "${TMPDIR:-/tmp}/fastseg-fuzz-ci.XXXXXX")
trap 'rm -rf "$work"' EXIT
"$python" -c 'import atheris' 2>/dev/null || "$python" -m pip install -q atheris

echo "== phase 1: coverage-guided, ordinary build (${seconds}s per target)"
status=0
"$python" "$here/run.py" --seconds "$seconds" --jobs 2 --work "$work/coverage" || status=1
echo "== phase 2: ASan + UBSan build, test suite, targets over the phase-1 corpus"
bash "$here/sanitize.sh" --seconds "$((seconds / 2))" --jobs 2 --corpus-from "$work/coverage" \
  || status=1
[ "$status" = 0 ] && echo "== fuzz CI passed" || echo "== fuzz CI FAILED"
exit $status
