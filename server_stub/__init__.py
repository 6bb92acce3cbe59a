"""A receiving intake for relay: the ReportStream-style sender API on loopback, backed by SQLite.

Run it with ``python -m server_stub``; build it in-process with ``create_app(Settings(...))``.
It shares nothing with the agent but the JSON schemas in ``schemas/``.
"""

from server_stub.app import Stub, create_app
from server_stub.clock import Clock, ManualClock, SystemClock
from server_stub.settings import Settings, settings_from_args

__all__ = ["Clock", "ManualClock", "Settings", "Stub", "SystemClock", "create_app", "settings_from_args"]
__version__ = "0.1.0"
