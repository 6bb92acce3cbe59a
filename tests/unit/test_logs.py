from __future__ import annotations

import logging

from relay.logs import log_file, setup


def test_log_file_is_private_and_handlers_are_not_duplicated(tmp_path):
    try:
        path = setup(to_file=True)
        setup(to_file=True)
        assert path == log_file() and path.exists()
        assert path.stat().st_mode & 0o077 == 0 and path.parent.stat().st_mode & 0o077 == 0
        ours = [h for h in logging.getLogger().handlers if getattr(h, "relay_handler", False)]
        assert len(ours) == 2
        logging.getLogger("relay.test").info("batch 7 delivered")
        for h in ours:
            h.flush()
        assert "batch 7 delivered" in path.read_text(encoding="utf-8")
    finally:
        for h in list(logging.getLogger().handlers):
            if getattr(h, "relay_handler", False):
                logging.getLogger().removeHandler(h)
                h.close()
