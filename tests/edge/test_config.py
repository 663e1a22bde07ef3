"""edge.toml: defaults that run, every key checked, clear errors naming the key."""
from __future__ import annotations

import pytest

from edge.config import EdgeConfig, load_config
from edge.exceptions import ConfigError

EXAMPLE = """
box = "kyushu-01"
state_dir = "/var/lib/das-edge"
max_lag_s = 1.5

[stream]
endpoint = "tcp://10.0.0.2:5555"
geometry = "/etc/das-eew/channels.csv"
fs_hz = 1000

[relay]
port = "/dev/ttyUSB0"
key = 305419896

[uplink]
endpoint = "tcp://central:5560"

[detector]
band_hz = [1.0, 12.0]
[detector.health]
clip_level = 3.2e-6

[eew]
min_picks = 40
[eew.gate]
pga_stop_gal = 80

[locator]
norm = "l2"
"""


def test_defaults_run():
    cfg = EdgeConfig()
    assert cfg.box == "edge" and cfg.relay.port == "" and cfg.uplink.endpoint == ""
    assert cfg.control_endpoint.startswith("ipc://") and cfg.control_endpoint.endswith("control.sock")


def test_full_example(tmp_path):
    path = tmp_path / "edge.toml"
    path.write_text(EXAMPLE)
    cfg = load_config(path)
    assert cfg.box == "kyushu-01" and cfg.max_lag_s == 1.5
    assert cfg.stream.fs_hz == 1000.0 and isinstance(cfg.stream.fs_hz, float)
    assert cfg.relay.key == 0x12345678
    assert cfg.detector.band_hz == (1.0, 12.0) and cfg.detector.health.clip_level == 3.2e-6
    assert cfg.eew.min_picks == 40 and cfg.eew.gate.pga_stop_gal == 80.0
    assert cfg.locator.norm == "l2"


def test_state_directory_from_systemd(monkeypatch):
    monkeypatch.setenv("STATE_DIRECTORY", "/var/lib/das-edge")
    assert str(EdgeConfig().state_path) == "/var/lib/das-edge"
    assert str(EdgeConfig(state_dir="/srv/x").state_path) == "/srv/x"


@pytest.mark.parametrize("text, names", [
    ('boxx = "a"', "boxx"),
    ('[stream]\nendpont = "x"', "endpont"),
    ('[detector]\nband_hz = [1.0]', "detector.band_hz"),
    ('[detector]\nsta_s = "fast"', "detector.sta_s"),
    ('[eew.gate]\na_min = true', "eew.gate.a_min"),
    ('[relay]\nedge_id = 1.5', "relay.edge_id"),
    ('[uplink]\nfsync = 1', "uplink.fsync"),
    ('max_lag_s = nan', "max_lag_s"),
    ('stream = 3', "stream"),
])
def test_bad_keys_are_named(tmp_path, text, names):
    path = tmp_path / "edge.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=names.split(".")[-1]):
        load_config(path)


@pytest.mark.parametrize("text", [
    'box = "a b"', 'box = ""', 'log_level = "loud"', '[relay]\nkey = -1', '[relay]\nedge_id = 300',
    '[detector]\nsta_s = 10.0', '[eew]\nanswer = "best"', '[eew]\nmin_picks = 2', '[locator]\nnorm = "l3"',
    '[detector.health]\nnoisy_factor = 0.5', '[uplink]\nheartbeat_s = 0', 'max_lag_s = 60.0',
])
def test_absurd_values_rejected(tmp_path, text):
    path = tmp_path / "edge.toml"
    path.write_text(text)
    with pytest.raises(ConfigError):
        load_config(path)


def test_unreadable_and_not_toml(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("box = [unclosed")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(bad)
    binary = tmp_path / "bin.toml"
    binary.write_bytes(b"\xff\xfe\x00box")
    with pytest.raises(ConfigError):
        load_config(binary)
