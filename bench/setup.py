"""Set-up times, from a fresh clone of the committed HEAD: first `make book`, rebuild, `make test`.

    python -m bench.setup [--keep]

The first `make book` includes creating .venv and installing requirements.txt (from whatever
package index and pip cache the machine is configured with); the second is the incremental
rebuild; `make test` is the whole suite, sampled by `bench.suite` for its peak number of live
kernels and peak memory. Each step's output goes to a log in the temporary directory, whose tail
is printed when a step fails. Figures only.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from bench import suite

ROOT = Path(__file__).resolve().parent.parent
STEPS = [("book", ["make", "book"]), ("rebuild", ["make", "book"]), ("test", ["make", "test"])]
TIMEOUT = 60 * 60  # per step; a hung step is reported, not waited for forever


def clean_env() -> dict:
    """This environment without the outer make's flags or an activated virtualenv.

    `make bench` runs this from make: MAKEFLAGS would turn the clone's make into a sub-make of
    ours (jobserver, command-line variables), and an activated venv's bin/ first on PATH would
    make the clone's `python3 -m venv` start from our venv instead of the system Python.
    """
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    venv = env.pop("VIRTUAL_ENV", None)
    if venv:
        env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep)
                                      if Path(p).parent != Path(venv))
    env.pop("PYTHONPATH", None)
    return env


def _tail(log: Path, lines: int = 25) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


def run(keep: bool = False) -> dict:
    """Clone, time the steps, print each figure; return {step: seconds or None if it failed}.

    The `make test` step also leaves its `suite.Measure` under "test-measure".
    """
    tmp = Path(tempfile.mkdtemp(prefix="bench-setup-"))
    results: dict = {}
    try:
        clone = tmp / "book"
        subprocess.run(["git", "clone", "--quiet", "--no-hardlinks", str(ROOT), str(clone)],
                       check=True)
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=clone, check=True,
                              capture_output=True, text=True).stdout.strip()
        print(f"set-up: fresh clone of the committed HEAD ({head}); each step's output in a log")
        env = clean_env()
        for name, cmd in STEPS:
            log = tmp / f"{name}.log"
            start = time.perf_counter()
            with log.open("w") as out:
                if name == "test":
                    results["test-measure"] = measured = suite.measure(cmd, clone, env, out, TIMEOUT)
                    rc = measured.returncode
                else:
                    try:
                        rc = subprocess.run(cmd, cwd=clone, env=env, stdout=out, stdin=subprocess.DEVNULL,
                                            stderr=subprocess.STDOUT, timeout=TIMEOUT).returncode
                    except subprocess.TimeoutExpired:
                        rc = "timeout"
            seconds = time.perf_counter() - start
            label = {"book": "make book (new venv + build)", "rebuild": "make book (rebuild)",
                     "test": "make test (whole suite)"}[name]
            if rc == 0:
                results[name] = seconds
                extra = ""
                if name == "test":
                    last = [l for l in log.read_text(errors="replace").splitlines() if l.strip()]
                    extra = f"   {last[-1].strip('= ')}" if last else ""
                    extra += f"\n  {'':<30} {suite.describe(results['test-measure'])}"
                print(f"  {label:<30} {seconds:8.1f} s{extra}", flush=True)
            else:
                results[name] = None
                print(f"  {label:<30} {seconds:8.1f} s   FAILED ({rc}); last lines of its log:\n"
                      + _tail(log), flush=True)
                if name == "book":
                    break  # nothing to rebuild or test without a venv and a first build
    finally:
        if keep:
            print(f"  kept the clone in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return results


def _figure(results: dict, name: str) -> str:
    if name not in results:
        return "not run"
    seconds = results[name]
    if seconds is None:
        return "failed"
    return f"{seconds:.0f}s" if seconds >= 10 else f"{seconds:.1f}s"


def summary(results: dict) -> str:
    text = " / ".join(f"{label} {_figure(results, name)}" for label, name in
                      (("setup book", "book"), ("rebuild", "rebuild"), ("test", "test")))
    measured = results.get("test-measure")
    if measured is not None:
        text += (f" ({measured.cpu_seconds:.0f}s CPU, {measured.peak_kernels} kernels, "
                 f"{measured.peak_pss / 2**30:.1f} GiB PSS)")
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="keep the temporary clone")
    args = parser.parse_args()
    print("bench: " + summary(run(keep=args.keep)))


if __name__ == "__main__":
    main()
