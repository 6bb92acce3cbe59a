"""[mllp] and [[watch]] format (INTERFACE §8)."""

from __future__ import annotations

import pytest

from relay.config import load
from relay.errors import ConfigError


def conf(tmp_path, text):
    path = tmp_path / "relay.toml"
    path.write_text(text, encoding="utf-8")
    return load(path)


def test_defaults(tmp_path):
    c = conf(tmp_path, '[[watch]]\nfolder = "in"\n')
    assert (c.mllp.enabled, c.mllp.host, c.mllp.port, c.mllp.allow_from, c.mllp.client) == (
        False, "127.0.0.1", 2575, (), None)
    assert c.watches[0].format == "auto"


def test_a_bind_other_machines_reach_needs_allow_from(tmp_path):
    with pytest.raises(ConfigError, match="mllp.allow_from"):
        conf(tmp_path, '[mllp]\nenabled = true\nhost = "0.0.0.0"\n')
    c = conf(tmp_path, '[mllp]\nenabled = true\nhost = "0.0.0.0"\nallow_from = ["10.0.0.5", "10.1.0.0/16"]\n'
                       'client = "lis.one"\n')
    assert c.mllp.allow_from == ("10.0.0.5", "10.1.0.0/16") and c.mllp.client == "lis.one"


@pytest.mark.parametrize("text, fragment", [
    ('[mllp]\nallow_from = ["not an address"]\n', "not an IP address"),
    ('[mllp]\nport = 70000\n', "mllp.port"),
    ('[mllp]\nbogus = 1\n', "bogus"),
    ('[[watch]]\nfolder = "in"\nformat = "xml"\n', "format"),
])
def test_bad_values_are_named(tmp_path, text, fragment):
    with pytest.raises(ConfigError, match=fragment):
        conf(tmp_path, text)
