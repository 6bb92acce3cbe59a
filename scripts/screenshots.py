"""The desktop app's pictures for the guides, from generated samples (never real data).

    DISPLAY=:1 .venv/bin/python scripts/screenshots.py docs/screenshots [--prefix NAME-]

Run it on a real X display (Xvfb is enough) of the screen size to check (1280x800, 1024x768):
it fills a lab's outbox with tests/ui/filler.py, starts the app with the real agent (its intake
address answers nothing, so results wait), drops a spreadsheet saved as .csv and a file with a bad
row into the watched folder, and saves: the queue with the Failed view (failed.png), Settings after
"Test connection" (settings.png), the tray menu (tray-menu.png) and the Files view with the
rejected file selected (rejected-file.png). The window has its default size for the screen.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

BAD_ROWS = ("Result_ID,Patient_last_name,Patient_first_name,Test_result_code,Test_date\r\n"
            "7d4c7f0e-1f5c-4c1e-9a55-1d2b3c4d5e60,Rivera,Ana,260415000,20261120\r\n"
            "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d,Chen\r\n"
            "5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a8b9,Okafor,Chidi,260373001,20261121\r\n")


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out")
    ap.add_argument("--prefix", default="")
    args = ap.parse_args(argv)
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="relay-shots-"))
    os.environ["RELAY_HOME"] = str(work / "home")
    os.environ["RELAY_TOKEN"] = "screenshot-token-0123456789"
    os.environ.setdefault("TZ", "UTC")

    from relay.config import load
    from relay.store.outbox import Outbox
    from tests.ui.filler import fill, write_config

    lab = work / "lab"
    lab.mkdir()
    write_config(lab)
    with Outbox(lab / "outbox.db") as box:
        fill(box, lab / "inbox", time.time(), rows=40)
    config = load(lab / "relay.toml")

    from PySide6.QtCore import QPoint
    from PySide6.QtWidgets import QApplication

    from relay.ui.app import RelayApp, _application, wait_until
    from relay.ui.prompts import Prompts

    qapp = _application()
    app = RelayApp(config, tray_available=False, prompts=Prompts())
    try:
        app.start(single_instance=False)
        window, panel = app.window, app.window.panel
        if not wait_until(lambda: app.session.running and window.is_populated, 60):
            print("the window did not come up", file=sys.stderr)
            return 1
        screen = qapp.primaryScreen().availableGeometry()
        print(f"screen {screen.width()}x{screen.height()}, window {window.width()}x{window.height()}")

        def settle() -> None:
            wait_until(lambda: app.session.quiet and not panel.model.busy, 10)
            for _ in range(5):
                QApplication.processEvents()

        def save(widget, name: str) -> None:  # noqa: ANN001
            path = out / f"{args.prefix}{name}"
            widget.grab().save(str(path), "PNG")
            print(f"wrote {path}")

        panel.show_view("failed")
        settle()
        if panel.model.rowCount():
            panel.table.selectRow(0)
        settle()
        save(window, "failed.png")

        dialog = app.open_settings()
        settle()
        dialog.test_button.click()
        wait_until(lambda: bool(dialog.test_result.text()), 30)
        settle()
        save(dialog, "settings.png")
        dialog.reject()
        settle()

        # The tray's menu as it opens over the desktop: the screen around it, the window behind.
        menu = app.tray.menu
        at = window.mapToGlobal(QPoint(window.width() - menu.sizeHint().width() - 40, 60))
        menu.popup(at)
        wait_until(menu.isVisible, 5)
        settle()
        area = menu.geometry().adjusted(-260, -50, 40, 40)
        path = out / f"{args.prefix}tray-menu.png"
        qapp.primaryScreen().grabWindow(0, area.x(), area.y(), area.width(), area.height()).save(str(path), "PNG")
        print(f"wrote {path}")
        menu.hide()

        inbox = config.watches[0].folder
        (inbox / "results.xlsx.csv").write_bytes(b"PK\x03\x04" + os.urandom(600))
        (inbox / "lab-with-bad-rows.csv").write_text(BAD_ROWS, encoding="utf-8")
        app.session.request_refresh()
        wait_until(lambda: "was rejected" in str(app.session.stats.get("files_attention") or "")
                   and "row of lab-with-bad-rows.csv" in str(app.session.stats.get("files_attention")), 60)
        settle()
        panel.show_view("pending")
        settle()
        save(window, "attention.png")
        panel.show_view("files")
        settle()
        row = next((r for r in range(panel.model.rowCount()) if panel.model.row(r).name == "results.xlsx.csv"), 0)
        panel.table.selectRow(row)
        settle()
        save(window, "rejected-file.png")
        row = next((r for r in range(panel.model.rowCount())
                    if panel.model.row(r).name == "lab-with-bad-rows.csv"), 0)
        panel.table.selectRow(row)
        wait_until(lambda: panel.detail.tabs.tabText(0).startswith("Rejected rows"), 10)
        settle()
        save(window, "rejected-rows.png")
    finally:
        app.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
