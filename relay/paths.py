"""Every folder relay uses, in one place.

Defaults come from platformdirs. ``RELAY_HOME`` in the environment moves all of them under one
folder (portable installs, tests), and ``RELAY_CONFIG`` names the config file.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import platformdirs

APP = "relay"


@dataclass(frozen=True)
class Paths:
    config_dir: Path
    data_dir: Path
    log_dir: Path
    state_dir: Path

    @property
    def default_config_file(self) -> Path:
        return self.config_dir / "relay.toml"

    @property
    def default_outbox(self) -> Path:
        return self.data_dir / "outbox.db"


def app_paths(environ: Mapping[str, str] | None = None) -> Paths:
    env = os.environ if environ is None else environ
    home = env.get("RELAY_HOME")
    if home:
        base = Path(home).expanduser().resolve()
        return Paths(base / "config", base / "data", base / "logs", base / "state")
    return Paths(
        config_dir=Path(platformdirs.user_config_dir(APP, appauthor=False)),
        data_dir=Path(platformdirs.user_data_dir(APP, appauthor=False)),
        log_dir=Path(platformdirs.user_log_dir(APP, appauthor=False)),
        state_dir=Path(platformdirs.user_state_dir(APP, appauthor=False)),
    )


def config_file(explicit: str | os.PathLike[str] | None, environ: Mapping[str, str] | None = None) -> Path:
    """The config file: ``--config`` wins, then ``RELAY_CONFIG``, then the platform default."""
    env = os.environ if environ is None else environ
    if explicit:
        return Path(explicit).expanduser().resolve()
    if env.get("RELAY_CONFIG"):
        return Path(env["RELAY_CONFIG"]).expanduser().resolve()
    return app_paths(env).default_config_file


def repo_schemas_dir() -> Path:
    """Folder holding the JSON Schemas (next to the package in a checkout or a frozen build)."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "schemas", here.parent / "schemas"):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError("relay's schemas folder is missing from this installation")
