"""Run every decoder fuzz target (tests/fuzz/fuzz_targets.py) for a bounded time and print what it found.

    python bench/fuzz_all.py                      # Hypothesis, 30 s per target
    python bench/fuzz_all.py --seconds 120 --only csv json
    python bench/fuzz_all.py --engine atheris     # coverage-guided (libFuzzer) through fuzz_one_input

Prints, per target, the inputs tried and the crashes found (an exception other than ClientError, or a
ClientError whose message is empty or echoes the input). A crashing input is printed in its shrunk form
so it can be pasted into tests/fuzz/test_fuzz_regressions.py. Exit status 1 when anything crashed.
The run is bounded by --seconds per target (plus one in-flight batch) and touches no network.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "fuzz"))
os.environ.setdefault("SAGEMAKER_SUPPRESS_V2_WARNING", "1")
BATCH = 300  # examples per Hypothesis round; each round draws a fresh random seed


def run_hypothesis(names: list[str], seconds: float) -> int:
    import warnings

    from fuzz_targets import STATS, target

    warnings.simplefilter("ignore")
    crashed = 0
    print(f"{'target':<20} {'inputs':>9} {'crashes':>8} {'inputs/s':>9}")
    for name in names:
        start = time.monotonic()
        failures: list[str] = []
        while time.monotonic() - start < seconds:
            try:
                target(name, BATCH, database=None)()
            except Exception as exc:  # noqa: BLE001 - a crash is what we are looking for
                shrunk = STATS[name].crashes[-1] if STATS[name].crashes else repr(exc)
                failures.append(shrunk)
                break  # one shrunk crash per target per run; fix it and run again
        stats = STATS.get(name)
        elapsed = time.monotonic() - start
        tried = stats.inputs if stats else 0
        print(f"{name:<20} {tried:>9} {len(failures):>8} {tried / elapsed:>9.0f}", flush=True)
        for failure in failures:
            print(f"  CRASH {name}: {failure}")
        crashed += len(failures)
    return crashed


_DONE = re.compile(r"Done (\d+) runs in (\d+) second")
_CRASH = re.compile(r"==\d+== ERROR: libFuzzer|Uncaught Python exception")


def _atheris_child(name: str, seconds: int) -> None:
    import atheris

    with atheris.instrument_imports(include=["linear_learner", "fuzz_targets"]):
        from fuzz_targets import target

    test = target(name, 1, database=None)
    atheris.Setup(
        [
            sys.argv[0],
            f"-max_total_time={seconds}",
            "-rss_limit_mb=2048",
            "-timeout=20",
            "-print_final_stats=1",
        ],
        test.hypothesis.fuzz_one_input,
    )
    atheris.Fuzz()


def run_atheris(names: list[str], seconds: float) -> int:
    crashed = 0
    print(f"{'target':<20} {'inputs':>9} {'crashes':>8} {'inputs/s':>9}")
    for name in names:
        cmd = [sys.executable, __file__, "--atheris-child", name, "--seconds", str(int(seconds))]
        start = time.monotonic()
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 120, cwd=ROOT)
        elapsed = time.monotonic() - start
        out = proc.stdout + proc.stderr
        done = _DONE.search(out)
        runs = int(done.group(1)) if done else 0
        crash = proc.returncode != 0 or bool(_CRASH.search(out))
        print(f"{name:<20} {runs:>9} {int(crash):>8} {runs / elapsed:>9.0f}", flush=True)
        if crash:
            crashed += 1
            print("  CRASH " + name + ":\n" + "\n".join(out.splitlines()[-25:]))
    return crashed


def main() -> int:
    if "--atheris-child" in sys.argv:  # before importing the package, so atheris can instrument it
        i = sys.argv.index("--atheris-child")
        _atheris_child(sys.argv[i + 1], int(float(sys.argv[sys.argv.index("--seconds") + 1])))
        return 0
    from fuzz_targets import INPUTS

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="time per target (default 30)")
    parser.add_argument("--engine", choices=("hypothesis", "atheris"), default="hypothesis")
    parser.add_argument("--only", nargs="*", choices=sorted(INPUTS), help="targets to run (default all)")
    args = parser.parse_args()
    names = args.only or sorted(INPUTS)
    t0 = time.monotonic()
    runner = run_atheris if args.engine == "atheris" else run_hypothesis
    crashes = runner(names, args.seconds)
    print(f"{args.engine}: {len(names)} targets, {time.monotonic() - t0:.0f} s, {crashes} crashing target(s)")
    return 1 if crashes else 0


if __name__ == "__main__":
    sys.exit(main())
