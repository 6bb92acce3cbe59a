"""Fixtures for the desktop app: a lab folder whose outbox holds realistic items (built once per
session by the real ingest and store transitions, copied per test), the fake agent over it, and
the app wired with a recording tray and scripted dialogs. Qt runs offscreen."""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import keyring
import pytest

from relay.clock import FakeClock
from relay.config import Config, load
from relay.store.outbox import Outbox
from tests.ui.filler import Filled, fill, write_config
from tests.ui.support import ROWS, T0


@pytest.fixture(scope="session", autouse=True)
def _gui_thread_collector(qapp):
    """As in the app: cyclic garbage (and the Qt objects in it) is collected on the GUI thread
    only, never on a worker thread that happens to allocate."""
    from relay.ui import collector

    return collector.install()


@pytest.fixture(autouse=True)
def _utc(monkeypatch):
    """The window shows local times; the tests read them in UTC wherever they run."""
    monkeypatch.setenv("TZ", "UTC")
    if hasattr(time, "tzset"):
        time.tzset()
    yield
    monkeypatch.undo()
    if hasattr(time, "tzset"):
        time.tzset()


@dataclass
class Lab:
    folder: Path
    config_path: Path
    config: Config
    filled: Filled
    clock: FakeClock

    def forget_seen_files(self) -> None:
        from relay.ui.session import store_seen_files_mark

        store_seen_files_mark(self.config.store.path, 0)

    def box(self) -> Outbox:
        """A second connection to the lab's outbox, for checking what the app did."""
        return Outbox(self.config.store.path, check=False)


@pytest.fixture(scope="session")
def _lab_template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Filled]:
    folder = tmp_path_factory.mktemp("lab-template")
    write_config(folder)
    with Outbox(folder / "outbox.db") as box:
        filled = fill(box, folder / "inbox", T0, rows=ROWS)
    return folder, filled


@pytest.fixture
def lab(tmp_path: Path, _lab_template: tuple[Path, Filled]) -> Lab:
    template, filled = _lab_template
    folder = tmp_path / "lab"
    shutil.copytree(template, folder)
    cfg = folder / "relay.toml"
    config = load(cfg)
    with Outbox(config.store.path, check=False) as box:
        newest = box.list_files(limit=1)
    # The lab's earlier rejected files were looked at long ago: only new ones need attention
    # (tests of that start from an unseen ledger with lab.forget_seen_files()).
    from relay.ui.session import store_seen_files_mark

    store_seen_files_mark(config.store.path, newest[0].id if newest else 0)
    return Lab(folder, cfg, config, filled, FakeClock(T0))


@pytest.fixture
def agents(lab: Lab) -> list:
    """Every fake agent the app made (a settings change makes a new one)."""
    return []


@pytest.fixture
def agent_factory(lab: Lab, agents: list):
    from tests.ui.fakes import FakeAgent

    def make(config: Config) -> FakeAgent:
        agent = FakeAgent(config, lab.clock)
        agents.append(agent)
        return agent

    return make


@pytest.fixture
def prompts():
    from tests.ui.fakes import ScriptedPrompts

    return ScriptedPrompts()


@pytest.fixture
def memory_keyring():
    from tests.helpers.keyrings import MemoryKeyring

    previous = keyring.get_keyring()
    kr = MemoryKeyring()
    keyring.set_keyring(kr)
    yield kr
    keyring.set_keyring(previous)


@pytest.fixture
def make_app(qtbot, lab, agent_factory, prompts):
    """Build and start the app; ``tray=False`` for a system without a tray."""
    from relay.ui.app import RelayApp
    from tests.ui.fakes import FakeTray

    made = []

    def build(*, tray: bool = True, factory=None, wait: bool = True) -> RelayApp:
        app = RelayApp(lab.config, agent_factory=factory or agent_factory, tray_available=tray,
                       tray_factory=FakeTray, prompts=prompts, clock=lab.clock)
        made.append(app)
        app.session.min_refresh_s = 0.02  # tests wait for refreshes; the coalescing test sets it back
        qtbot.addWidget(app.window)
        app.start(single_instance=False)
        if wait:
            qtbot.waitUntil(lambda: app.session.running and app.window.is_populated
                            and bool(app.session.stats.get("running")), timeout=10_000)
        return app

    yield build
    for app in made:
        app.close()


@pytest.fixture
def app(make_app):
    return make_app()
