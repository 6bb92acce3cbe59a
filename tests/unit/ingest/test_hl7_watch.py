"""HL7 files through a watched folder and through `relay ingest`."""

from __future__ import annotations

from relay import samples_hl7
from relay.cli import main
from relay.clock import FakeClock
from relay.config import from_dict
from relay.ingest.watcher import FolderWatcher
from relay.store.outbox import Outbox


def test_a_watched_folder_takes_hl7_files_and_moves_them(tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    cfg = from_dict({"watch": [{"folder": str(inbox), "pattern": "*.hl7", "settle_s": 1}],
                     "store": {"path": str(tmp_path / "o.db")}}, None)
    clock = FakeClock()
    with Outbox(cfg.store.path) as box:
        watcher = FolderWatcher(cfg.watches[0], box, client="lab", clock=clock, on_new_work=lambda: None,
                                on_problem=lambda k, t: None)
        text = samples_hl7.batch([samples_hl7.message(n) for n in range(3)] + ["MSH|^~\\&|x|y|||2024||"])
        (inbox / "lab.hl7").write_text(text)
        watcher.tick()
        clock.advance(1.5)
        assert watcher.tick() == 1
        assert (inbox / "processed" / "lab.hl7").exists() and not (inbox / "lab.hl7").exists()
        assert (inbox / "rejected" / "lab.hl7.rejected-messages.hl7").exists()
        assert "message 4" in (inbox / "rejected" / "lab.hl7.error.txt").read_text()
        assert [i.kind for i in box.list_items(limit=10)] == ["hl7"] * 3


def test_relay_ingest_reads_a_reportstream_style_file_as_hl7(tmp_path, capsys):
    cfg = tmp_path / "relay.toml"
    cfg.write_text('[store]\npath = "o.db"\n', encoding="utf-8")
    path = tmp_path / "Example-hl7-file.hl7"
    path.write_text(samples_hl7.batch([samples_hl7.message(n) for n in range(2)]))
    assert main(["--config", str(cfg), "ingest", str(path)]) == 0
    out = capsys.readouterr().out
    assert "Example-hl7-file.hl7: 2 accepted, 0 duplicate, 0 rejected message(s)" in out
    assert main(["--config", str(cfg), "ingest", str(path)]) == 0
    assert "already taken earlier" in capsys.readouterr().out
