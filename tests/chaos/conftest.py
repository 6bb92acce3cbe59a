"""The chaos tests print their figures; they are also collected here and shown in a section of
pytest's terminal summary, so they appear without ``-s``."""

from __future__ import annotations

from collections.abc import Callable

import pytest

FIGURES = pytest.StashKey[list[str]]()


@pytest.fixture
def figures(request: pytest.FixtureRequest) -> Callable[[str], None]:
    """``figures("items 3,600 ...")`` prints a line and keeps it for the terminal summary."""
    lines = request.config.stash.setdefault(FIGURES, [])

    def add(text: str) -> None:
        print(text)
        lines.append(f"{request.node.name}: {text}")

    return add


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:  # noqa: ANN001
    lines = config.stash.get(FIGURES, [])
    if lines:
        terminalreporter.section("chaos figures")
        for line in lines:
            terminalreporter.write_line(line)
