"""The desktop tests, five times in a row in fresh interpreters: none may crash the interpreter
(a segfault there once came from Qt objects freed by garbage collection on a worker thread)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RUNS = 5


@pytest.mark.slow
def test_the_desktop_tests_run_five_times_without_a_crash(tmp_path):
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    for run in range(1, RUNS + 1):
        out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider",
                              "--basetemp", str(tmp_path / f"run{run}"), "tests/ui"],
                             cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False)
        assert out.returncode == 0, f"run {run} of {RUNS} ended with {out.returncode}:\n{out.stdout[-3000:]}{out.stderr[-3000:]}"
        assert " passed" in out.stdout.splitlines()[-1]
