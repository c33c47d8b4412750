"""Run the fuzz targets with a time budget; exit non-zero on any finding.

    python fuzz/run.py [--target NAME ...] [--seconds N] [--jobs J] [--sanitize]

Targets: unpack, roundtrip, pack, checksum, conn (default: all).  Each runs
under libFuzzer (atheris) for ``--seconds``, seeded from fuzz/corpus/<target>
(read only) and growing its own corpus in ``--work``/<target> (kept between
runs, so longer campaigns build on shorter ones).  Then its corpus is replayed
many times under tracemalloc to catch leaks (--no-leak-check skips that).

A target fails on: a non-zero exit of libFuzzer (an uncaught exception: twins
disagree, an invariant broke, an undocumented exception; a timeout of one
input; an out-of-memory), any AddressSanitizer / UndefinedBehaviorSanitizer /
LeakSanitizer report in its output, or growing memory in the leak check.
Crash inputs are written to ``--work``/artifacts/.

``--sanitize`` runs against an ASan+UBSan build of the extensions (see
fuzz/sanitize.sh, which builds one and calls this): the ASan runtime the
extensions link is preloaded, ``PYTHONMALLOC=malloc`` lets ASan see every
Python allocation, and the run refuses to start on a build without ASan.
"""

from __future__ import annotations

import argparse
import glob
import importlib.util
import os
import re
import subprocess
import sys
import time
from typing import Dict, List, Optional

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
#: Seconds the leak check may take: it replays at most 64 inputs for about 60 s of measured
#: passes (fuzz/_common.py), whatever the corpus has grown to, so a fixed deadline fits.
LEAK_DEADLINE = 300

#: target -> (script, libFuzzer -max_len)
TARGETS = {
    "unpack": ("fuzz_unpack.py", 256),
    "roundtrip": ("fuzz_roundtrip.py", 256),
    "pack": ("fuzz_pack.py", 512),
    "checksum": ("fuzz_checksum.py", 2048),
    "conn": ("fuzz_conn.py", 4096),
}
FINDINGS = re.compile(
    r"ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:|Uncaught Python exception"
    r"|ERROR: libFuzzer|==LEAK==|SUMMARY: (Address|Undefined|Leak)Sanitizer"
)


def _extension_path() -> Optional[str]:
    """The compiled codec's file, found without importing it (that needs the preload)."""
    spec = importlib.util.find_spec("fastseg")  # imports nothing
    if spec is None or not spec.submodule_search_locations:
        return None
    found = glob.glob(os.path.join(next(iter(spec.submodule_search_locations)), "_codec_c*.so"))
    return found[0] if found else None


def sanitizer_env() -> Dict[str, str]:
    """Environment for running the ASan/UBSan-built extensions inside CPython."""
    extension = _extension_path()
    if extension is None:
        sys.exit("run.py --sanitize: fastseg._codec_c is not built (see fuzz/sanitize.sh)")
    runtime = os.environ.get("FASTSEG_ASAN_RUNTIME")
    if not runtime:
        ldd = subprocess.run(["ldd", extension], capture_output=True, text=True).stdout
        found = re.search(r"(libasan\.so\S*) => (\S+)", ldd)
        if found:
            runtime = found.group(2)
        else:
            with open(extension, "rb") as f:
                if b"__asan_report" not in f.read():
                    sys.exit(f"run.py --sanitize: {extension} is not built with ASan "
                             "(see fuzz/sanitize.sh)")
            # clang leaves the runtime to the executable: take clang's own.
            runtime = subprocess.run(
                ["clang", "-print-file-name=libclang_rt.asan-x86_64.so"],
                capture_output=True, text=True).stdout.strip()
    if not runtime or not os.path.exists(runtime):
        sys.exit(f"run.py --sanitize: no ASan runtime found ({runtime!r}); set FASTSEG_ASAN_RUNTIME")
    return {
        "LD_PRELOAD": runtime,
        # CPython frees little at exit: leak reports would be its noise, not ours.  Leaks of
        # Python objects are found by the tracemalloc check instead.
        "ASAN_OPTIONS": "detect_leaks=0:abort_on_error=0:symbolize=1:"
                        "detect_stack_use_after_return=1:strict_string_checks=1",
        "UBSAN_OPTIONS": "halt_on_error=1:print_stacktrace=1",
        "PYTHONMALLOC": "malloc",
        "FASTSEG_REQUIRE_EXTENSIONS": "1",
    }


class Run:
    def __init__(self, target: str, args: argparse.Namespace, env: Dict[str, str]) -> None:
        script, max_len = TARGETS[target]
        self.target = target
        self.script = os.path.join(HERE, script)
        self.work = os.path.join(args.work, target)
        self.seeds = os.path.join(HERE, "corpus", target)
        self.artifacts = os.path.join(args.work, "artifacts")
        os.makedirs(self.work, exist_ok=True)
        os.makedirs(self.artifacts, exist_ok=True)
        self.log_path = os.path.join(args.work, f"{target}.log")
        self.env = env
        self.args = args
        self.command = [
            sys.executable, self.script,
            f"-max_total_time={args.seconds}", f"-max_len={max_len}",
            f"-timeout={args.timeout}", f"-rss_limit_mb={args.rss_limit_mb}",
            "-print_final_stats=1", "-detect_leaks=0",
            f"-artifact_prefix={self.artifacts}/{target}-",
            self.work, self.seeds,
            *[d for d in (os.path.join(c, target) for c in args.corpus_from) if os.path.isdir(d)],
        ]
        self.process: Optional[subprocess.Popen] = None  # type: ignore[type-arg]
        self.started = 0.0
        self.elapsed = 0.0
        self.problems: List[str] = []
        self.stats: Dict[str, str] = {}

    def start(self) -> None:
        self.log = open(self.log_path, "w")  # noqa: SIM115 - closed in finish()
        self.started = time.monotonic()
        self.process = subprocess.Popen(self.command, stdout=self.log, stderr=subprocess.STDOUT,
                                        env=self.env, cwd=ROOT)

    def finish(self) -> None:
        assert self.process is not None
        code = self.process.returncode
        self.elapsed = time.monotonic() - self.started
        self.log.close()
        with open(self.log_path, errors="replace") as f:
            output = f.read()
        self.stats = dict(re.findall(r"stat::(\w+):\s+(\d+)", output))
        if code != 0:
            self.problems.append(f"libFuzzer exited with {code}")
        hits = sorted({m.group(0) for m in FINDINGS.finditer(output)})
        if hits:
            self.problems.append("report: " + ", ".join(hits))
        crashes = [name for name in os.listdir(self.artifacts) if name.startswith(self.target + "-")]
        if self.problems and crashes:
            self.problems.append("inputs: " + ", ".join(
                os.path.join(self.artifacts, name) for name in sorted(crashes)))
        if not self.problems and not self.args.no_leak_check:
            self.leak_check()

    def leak_check(self) -> None:
        command = [sys.executable, self.script, "--leak-check", self.work, self.seeds]
        try:
            # The check replays a bounded sample for a bounded time (fuzz/_common.py:
            # LEAK_SAMPLE, LEAK_BUDGET), so its deadline need not grow with the corpus.
            done = subprocess.run(command, capture_output=True, text=True, env=self.env,
                                  cwd=ROOT, timeout=LEAK_DEADLINE)
        except subprocess.TimeoutExpired:
            self.problems.append("leak check timed out")
            return
        with open(self.log_path, "a") as f:
            f.write(done.stdout + done.stderr)
        line = [s for s in done.stdout.splitlines() if s.startswith("leak check")]
        self.stats["leak_check"] = line[-1] if line else "?"
        hits = sorted({m.group(0) for m in FINDINGS.finditer(done.stdout + done.stderr)})
        if done.returncode != 0 or hits:
            self.problems.append(f"leak check failed ({done.returncode}): {', '.join(hits)}")

    def summary(self) -> str:
        runs = int(self.stats.get("number_of_executed_units", 0))
        rate = self.stats.get("average_exec_per_sec", "?")
        verdict = "ok" if not self.problems else "FAILED: " + "; ".join(self.problems)
        corpus = len(os.listdir(self.work))
        return (f"{self.target:10} {self.elapsed:7.1f}s {runs:>11,} execs {rate:>7} exec/s "
                f"corpus {corpus:>5}  {verdict}")


def main() -> int:
    parser = argparse.ArgumentParser(description="Run fastseg's fuzz targets.")
    parser.add_argument("--target", action="append", choices=[*TARGETS, "all"],
                        help="a target to run (repeatable; default all)")
    parser.add_argument("--seconds", type=int, default=60, help="budget per target")
    parser.add_argument("--jobs", type=int, default=1, help="targets run at the same time")
    parser.add_argument("--sanitize", action="store_true",
                        help="run against the ASan/UBSan build (fuzz/sanitize.sh)")
    parser.add_argument("--work", default=os.path.join(HERE, ".work"),
                        help="grown corpora, logs and crash inputs")
    parser.add_argument("--timeout", type=int, default=10, help="seconds one input may take")
    parser.add_argument("--rss-limit-mb", type=int, default=None)
    parser.add_argument("--no-leak-check", action="store_true")
    parser.add_argument("--corpus-from", action="append", default=[], metavar="DIR",
                        help="also seed from DIR/<target> (e.g. the work dir of a run with "
                             "coverage; repeatable)")
    parser.add_argument("--skip-known", action="store_true",
                        help="step around bugs already reported (FASTSEG_FUZZ_KNOWN=skip)")
    args = parser.parse_args()
    names = list(TARGETS) if not args.target or "all" in args.target else args.target
    args.work = os.path.abspath(args.work)
    env = dict(os.environ)  # the installed fastseg (sanitize.sh points PYTHONPATH at its build)
    if args.sanitize:
        env.update(sanitizer_env())
    if args.skip_known:
        env["FASTSEG_FUZZ_KNOWN"] = "skip"
    if args.rss_limit_mb is None:
        args.rss_limit_mb = 4096 if args.sanitize else 2048
    print(f"fuzz: {', '.join(names)} for {args.seconds}s each, {args.jobs} at a time"
          f"{' under ASan+UBSan' if args.sanitize else ''}; work in {args.work}", flush=True)

    pending = [Run(name, args, env) for name in names]
    running: List[Run] = []
    done: List[Run] = []
    while pending or running:
        while pending and len(running) < args.jobs:
            run = pending.pop(0)
            run.start()
            running.append(run)
        time.sleep(0.2)
        for run in list(running):
            assert run.process is not None
            if run.process.poll() is not None:
                running.remove(run)
                run.finish()
                done.append(run)
                print(run.summary(), flush=True)
                if "leak_check" in run.stats:
                    print(f"{'':10} {run.stats['leak_check']}", flush=True)
    failed = [run for run in done if run.problems]
    total = sum(int(run.stats.get("number_of_executed_units", 0)) for run in done)
    print(f"fuzz: {total:,} executions in all; "
          + (f"{len(failed)} target(s) FAILED (logs in {args.work})" if failed else "no findings"),
          flush=True)
    for run in failed:
        with open(run.log_path, errors="replace") as f:
            lines = f.read().splitlines()
        print(f"---- {run.target}: last lines of {run.log_path}")
        print("\n".join(line for line in lines if not line.startswith("INFO: Instrumenting"))[-4000:])
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
