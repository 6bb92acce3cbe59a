"""README's two commands, followed as a new user would: from a fresh clone, set up from nothing."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```bash\n(.*?)```", text, re.S)
    assert block, "README.md must open with a bash block holding the two commands"
    return [line.split("#")[0].strip() for line in block.group(1).splitlines() if line.strip()][:2]


def test_readme_opens_with_the_demo_and_the_test_command():
    demo, tests = readme_commands()
    assert demo == "bash scripts/demo.sh" and tests == "bash scripts/test.sh"
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "bash scripts/test.sh" in ci  # CI runs the README's test command


@pytest.mark.slow
def test_both_commands_work_from_a_fresh_clone(tmp_path):
    clone = tmp_path / "relay"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True, timeout=120)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RELAY_", "VIRTUAL_ENV"))}
    env.update(QT_QPA_PLATFORM="offscreen", RELAY_HOME=str(tmp_path / "home"))
    demo, tests = readme_commands()
    out = subprocess.run([*demo.split(), "--exit-when-done", "--no-gui"], cwd=clone, env=env,
                         capture_output=True, text=True, timeout=900, check=False)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    assert "drop CSV files into" in out.stdout and "relay demo stopped" in out.stdout
    assert (clone / "relay-demo" / "inbox" / "processed" / "clinic-monday.csv").exists()
    assert (clone / "relay-demo" / "inbox" / "rejected" / "results.xlsx.csv.error.txt").exists()
    out = subprocess.run([*tests.split(), "tests/unit/test_hashing.py", "-q", "-p", "no:cacheprovider"], cwd=clone,
                         env=env, capture_output=True, text=True, timeout=900, check=False)
    assert out.returncode == 0 and " passed" in out.stdout, out.stdout[-2000:] + out.stderr[-2000:]
