"""The edge daemon's configuration: one TOML file (``edge.toml``), dataclasses with defaults that run.

Every table maps onto a dataclass of the part it configures; unknown keys and wrong types are a
:class:`~edge.exceptions.ConfigError` naming the offending key, never a crash later in the daemon.

.. code-block:: toml

    box = "kyushu-01"                      # box id on the wire
    state_dir = "/var/lib/das-edge"        # journal, sequence counter, control socket

    [stream]
    endpoint = "tcp://interrogator:5555"   # the interrogator's ZeroMQ PUB
    geometry = "/etc/das-eew/channels.csv" # lat, lon[, elev_m] per channel (or a fiber record)

    [relay]
    port = "/dev/ttyUSB0"                  # the relay controller; "" runs without one

    [uplink]
    endpoint = "tcp://central:5560"        # central's ROUTER; "" keeps messages in the journal only

    [detector]                             # edge.detection.DetectorConfig
    [eew]                                  # edge.eew.EewConfig, with [eew.gate] = edge.gate.GateConfig
    [locator]                              # edge.location.LocatorConfig
    [archive]                              # edge.archive.ArchiveConfig: waveforms kept for snippets
"""
from __future__ import annotations

import dataclasses
import os
import sys
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path

from edge.archive import ArchiveConfig
from edge.detection import DetectorConfig
from edge.eew import EewConfig
from edge.exceptions import ConfigError
from edge.location import LocatorConfig

_BOX_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")


@dataclass(frozen=True)
class StreamSettings:
    """Where the samples come from.

    endpoint : the interrogator's ZeroMQ PUB address.
    geometry : channel coordinates: a CSV with a header naming ``lat``, ``lon`` (degrees) and
        optionally ``elev_m``, one row per channel from ``ch0`` on, or a fiber record (.npz/.h5) whose
        header gives them. Not needed for ``--replay``, where the records carry their coordinates.
    ch0 : the first channel number of this box's segment, as the interrogator numbers channels.
    fs_hz : the interrogator's sampling rate, Hz (frames with another rate are rejected and counted).
    timeout_s : no frame for this long makes the stream stale: the edge is blind, so it stops sending
        PERMIT to the relay controller (fail-safe) and reports it.
    max_frames_per_poll : frames taken from the socket before the relay and control get a turn.
    """

    endpoint: str = "tcp://127.0.0.1:5555"
    geometry: str = ""
    ch0: int = 0
    fs_hz: float = 1000.0
    timeout_s: float = 5.0
    rcvhwm: int = 2000
    max_frames_per_poll: int = 20

    def __post_init__(self) -> None:
        if not (self.ch0 >= 0 and self.fs_hz > 0 and self.timeout_s > 0 and self.rcvhwm > 0
                and self.max_frames_per_poll >= 1):
            raise ConfigError(f"invalid [stream] settings: {self!r}")


@dataclass(frozen=True)
class RelaySettings:
    """The serial link to the relay controller (see ``firmware_py.protocol``).

    port : serial device ("" runs without a relay controller, e.g. on a bench).
    key : the per-link 32-bit safety code shared with the controller.
    permit_interval_s : PERMIT period while healthy; the controller's timeout must be several times it.
    alarm_retry_s : an ALARM not acknowledged within this is sent again.
    """

    port: str = ""
    edge_id: int = 1
    controller_id: int = 2
    key: int = 0
    baudrate: int = 115200
    permit_interval_s: float = 0.1
    alarm_retry_s: float = 0.2

    def __post_init__(self) -> None:
        if not (0 <= self.edge_id <= 255 and 0 <= self.controller_id <= 255 and 0 <= self.key < 2**32
                and self.baudrate > 0 and 0 < self.permit_interval_s <= 1.0 and self.alarm_retry_s > 0):
            raise ConfigError(f"invalid [relay] settings: {self!r}")


@dataclass(frozen=True)
class UplinkSettings:
    """Messages to central.

    endpoint : central's ZeroMQ ROUTER address ("" keeps location and alarm messages in the journal only).
    heartbeat_s : heartbeat period, s.
    hello_s : the hello (segment, channel coordinates) is repeated this often, s, so that a restarted
        central learns the box again.
    resend_s : an unacknowledged location or alarm is sent again after this, s.
    queue_max : picks, heartbeat and snippet messages waiting for the uplink thread; beyond it they
        are dropped and counted (location and alarm messages are never dropped).
    journal_max_mb : unacknowledged location and alarm messages kept on disk, MiB.
    fsync : journal appends are durable on return (off only for tests on slow disks).
    alerts : central's alert PUB address ("" = no downlink). An alert naming this box raises its
        level (never lowers it), through the same relay path as the box's own alarms.
    alert_max_age_s : alerts older than this (wall time since central sent them), s, are ignored.
    """

    endpoint: str = ""
    alerts: str = ""
    alert_max_age_s: float = 10.0
    heartbeat_s: float = 1.0
    hello_s: float = 30.0
    resend_s: float = 2.0
    queue_max: int = 1000
    journal_max_mb: float = 256.0
    fsync: bool = True
    sndhwm: int = 10000

    def __post_init__(self) -> None:
        if not (self.heartbeat_s > 0 and self.hello_s > 0 and self.resend_s > 0 and self.queue_max >= 1
                and self.journal_max_mb > 0 and self.sndhwm >= 1 and self.alert_max_age_s > 0):
            raise ConfigError(f"invalid [uplink] settings: {self!r}")


@dataclass(frozen=True)
class EdgeConfig:
    """The whole daemon.

    box : box id on the wire (1-64 of ``[A-Za-z0-9_.-]``).
    state_dir : journal, wire sequence counter and control socket live here ("" means
        ``$STATE_DIRECTORY`` under systemd, else ``./edge-state``).
    control : the control endpoint ``python -m edge status|clear`` talk to ("" means
        ``ipc://STATE_DIR/control.sock``).
    model : velocity model TOML ("" is the built-in JMA2001-like model).
    max_lag_s : processing may fall this far behind the stream before the edge counts itself
        unhealthy (no PERMIT); ``watchdog_lag_s`` is the point where systemd's watchdog is starved
        so that it restarts a hopelessly stuck daemon.
    """

    box: str = "edge"
    state_dir: str = ""
    control: str = ""
    model: str = ""
    log_level: str = "info"
    max_lag_s: float = 2.0
    watchdog_lag_s: float = 30.0
    stream: StreamSettings = field(default_factory=StreamSettings)
    relay: RelaySettings = field(default_factory=RelaySettings)
    uplink: UplinkSettings = field(default_factory=UplinkSettings)
    detector: DetectorConfig = field(default_factory=DetectorConfig)
    eew: EewConfig = field(default_factory=EewConfig)
    locator: LocatorConfig = field(default_factory=LocatorConfig)
    archive: ArchiveConfig = field(default_factory=ArchiveConfig)

    def __post_init__(self) -> None:
        if not (1 <= len(self.box) <= 64 and set(self.box) <= _BOX_CHARS):
            raise ConfigError(f"box id must be 1-64 characters of [A-Za-z0-9_.-], got {self.box!r}")
        if self.log_level.lower() not in ("debug", "info", "warning", "error", "critical"):
            raise ConfigError(f"log_level must be debug, info, warning, error or critical, got {self.log_level!r}")
        if not (0 < self.max_lag_s <= self.watchdog_lag_s):
            raise ConfigError("need 0 < max_lag_s <= watchdog_lag_s")

    @property
    def state_path(self) -> Path:
        """The state directory, resolved (see ``state_dir``)."""
        return Path(self.state_dir or os.environ.get("STATE_DIRECTORY", "").split(":")[0] or "edge-state")

    @property
    def control_endpoint(self) -> str:
        """The control endpoint, resolved (see ``control``)."""
        return self.control or f"ipc://{self.state_path.resolve() / 'control.sock'}"

    @classmethod
    def from_dict(cls, table: dict) -> EdgeConfig:
        """Build from a parsed TOML table; raises ConfigError naming any unknown key or wrong type."""
        return from_table(cls, table, "")


def load_config(path: str | Path | None) -> EdgeConfig:
    """Read ``edge.toml`` (None gives the defaults)."""
    return EdgeConfig() if path is None else EdgeConfig.from_dict(read_toml(path))


EX_CONFIG = 78   # sysexits.h: the daemons' exit status for a bad config; their units do not restart on it


def load_or_exit(load, path):
    """For a daemon's start: ``load(path)``, or the ConfigError on stderr and exit 78 (EX_CONFIG).
    A bad config does not get better by restarting five times: say which key and stop."""
    try:
        return load(path)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(EX_CONFIG) from None


def read_toml(path: str | Path) -> dict:
    """Parse a TOML file; an unreadable or malformed one is a ConfigError naming the file."""
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except OSError as exc:
        raise ConfigError(f"cannot read config {path}: {exc.strerror or exc}") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config {path} is not valid TOML: {exc}") from exc


def from_table(cls, table, where: str):
    """Instantiate the frozen dataclass ``cls`` from a TOML table, checking keys and types.

    Nested dataclass fields take sub-tables; tuples take arrays of the right length. Any error
    becomes a ConfigError naming the key (``where`` is its dotted prefix).
    """
    if not isinstance(table, dict):
        raise ConfigError(f"[{where or 'top level'}] must be a table, got {type(table).__name__}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(table) - names)
    if unknown:
        raise ConfigError(f"unknown setting{'s' if len(unknown) > 1 else ''} in [{where or 'top level'}]: "
                          f"{', '.join(map(str, unknown))}")
    kwargs = {name: _coerce(hints[name], value, f"{where}.{name}" if where else name)
              for name, value in table.items()}
    try:
        return cls(**kwargs)
    except ConfigError:
        raise
    except (TypeError, ValueError, ArithmeticError) as exc:
        raise ConfigError(f"invalid settings in [{where or 'top level'}]: {exc}") from exc


def _coerce(hint, value, key: str):
    """Check ``value`` against the type hint of one field; return it converted where TOML is looser."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if dataclasses.is_dataclass(hint):
        return from_table(hint, value, key)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(inner[0], value, key)
    if origin is tuple:
        if not isinstance(value, list | tuple) or (len(args) != 2 or args[1] is not Ellipsis) and len(value) != len(args):
            raise ConfigError(f"{key} must be an array of {len(args)} values, got {value!r}")
        item_types = [args[0]] * len(value) if len(args) == 2 and args[1] is Ellipsis else list(args)
        return tuple(_coerce(t, v, key) for t, v in zip(item_types, value))
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key} must be true or false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key} must be an integer, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{key} must be a number, got {value!r}")
        value = float(value)
        if value != value or value in (float("inf"), float("-inf")):
            raise ConfigError(f"{key} must be finite, got {value!r}")
        return value
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key} must be a string, got {value!r}")
        return value
    raise ConfigError(f"{key}: settings of type {hint!r} cannot be given in a config file")
