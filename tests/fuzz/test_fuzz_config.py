"""Fuzzing edge.toml: any TOML text or table either gives an EdgeConfig or raises ConfigError."""
from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from edge.config import EdgeConfig, load_config
from edge.exceptions import ConfigError

from .conftest import FUZZ, N, count

SECTIONS = {"": ["box", "state_dir", "control", "model", "log_level", "max_lag_s", "watchdog_lag_s"],
            "stream": ["endpoint", "geometry", "ch0", "fs_hz", "timeout_s", "rcvhwm", "max_frames_per_poll"],
            "relay": ["port", "edge_id", "controller_id", "key", "baudrate", "permit_interval_s", "alarm_retry_s"],
            "uplink": ["endpoint", "heartbeat_s", "hello_s", "resend_s", "queue_max", "journal_max_mb", "fsync"],
            "detector": ["target_fs_hz", "stack_m", "stack", "band_hz", "sta_s", "lta_s", "trigger_on", "trigger_off",
                         "settle_lta", "pre_s", "post_s", "min_snr", "block_s", "health_window_s"],
            "detector.health": ["flat_ratio", "clip_level", "clip_min_count", "noisy_factor", "noisy_neighbours"],
            "detector.moveout": ["max_slowness_s_per_km", "tol_s", "min_channels", "min_span_m", "hold_s"],
            "eew": ["min_picks", "relocate_every", "event_window_s", "close_after_s", "answer", "curvature_km"],
            "eew.gate": ["a_min", "misfit_max_s", "min_picks", "pga_stop_gal", "pga_advisory_gal", "fallback_km"],
            "locator": ["margin_km", "max_depth_km", "fine_km", "norm", "beam", "max_picks", "root_km"]}

values = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(allow_nan=True),
                   st.text(max_size=20), st.lists(st.floats(-100, 100), max_size=3),
                   st.sampled_from(["l1", "l2", "latest", "info", "x y", ""]), st.dictionaries(st.text(max_size=5),
                                                                                            st.integers(), max_size=2))


@st.composite
def tables(draw):
    table: dict = {}
    for section in draw(st.lists(st.sampled_from(sorted(SECTIONS)), max_size=4, unique=True)):
        target = table
        for part in [p for p in section.split(".") if p]:
            target = target.setdefault(part, {}) if isinstance(target.get(part, {}), dict) else {}
        for key in draw(st.lists(st.sampled_from(SECTIONS[section] + ["unknown_key"]), max_size=4, unique=True)):
            target[key] = draw(values)
    if draw(st.booleans()):
        table[draw(st.sampled_from(["stream", "eew", "detector"]))] = draw(values)
    return table


@FUZZ
@given(tables())
def test_config_tables(table):
    try:
        cfg = EdgeConfig.from_dict(table)
    except ConfigError:
        count("config_table", False)
        return
    assert isinstance(cfg, EdgeConfig)
    count("config_table", True)


@settings(FUZZ, max_examples=max(1, N // 4))
@given(st.one_of(st.binary(max_size=300), st.text(max_size=300).map(str.encode)))
def test_config_files(tmp_path_factory, data):
    path = tmp_path_factory.getbasetemp() / "fuzz.toml"
    path.write_bytes(data)
    try:
        load_config(path)
    except ConfigError:
        count("config_file", False)
        return
    count("config_file", True)
