"""The admin guide's two complete configurations (CSV -> ELR -> AIMS S3, LIS over MLLP -> state
MLLP) are valid as written and pass the start-up format check; neither needs intake.auth changed."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from relay.config import from_dict, validate
from relay.delivery.fit import check_formats

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "guide-admin.md"


def complete_configurations() -> list[dict]:
    text = GUIDE.read_text(encoding="utf-8").split("### Two complete configurations", 1)[1].split("\n## ", 1)[0]
    return [tomllib.loads(block) for block in re.findall(r"```toml\n(.*?)```", text, re.S)]


def test_the_guides_complete_configurations_load_and_start_the_format_check(tmp_path):
    configs = complete_configurations()
    assert len(configs) == 2
    for data in configs:
        data = {**data, "store": {"path": str(tmp_path / "outbox.db")}}
        for watch in data.get("watch", []):
            watch["folder"] = str(tmp_path / "exports")
        validate(data, "guide")
        config = from_dict(data, tmp_path / "relay.toml")
        assert config.intake.auth == "bearer" and config.intake.format == "csv"  # the defaults, unchanged
        check_formats(config)
    aims, mllp = configs
    assert aims["intake"]["url"].startswith("s3://") and aims["translate"]["to"] == "hl7-elr-2.5.1"
    assert mllp["intake"]["url"].startswith("mllps://") and mllp["mllp"]["enabled"] is True
