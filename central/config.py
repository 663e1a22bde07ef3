"""``central.toml``: the central node's settings, checked like the edge's (unknown keys and wrong types
raise ConfigError naming the dotted key). Every knob is documented here once; the defaults run on one
machine on loopback.

Example
-------
.. code-block:: toml

    db = "/var/lib/das-central/events.sqlite"
    [collector]
    endpoint = "tcp://*:5560"
    [downlink]
    endpoint = "tcp://*:5561"
    [status]
    port = 8080
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from central.association import AssociationConfig
from central.classification import ClassifierSettings
from central.forecast import ForecastSettings
from central.downlink import DownlinkSettings
from central.fusion import FusionSettings
from edge.config import from_table, read_toml
from edge.exceptions import ConfigError

__all__ = [
    "BoxHealthSettings",
    "CentralConfig",
    "CollectorSettings",
    "StatusSettings",
    "load_central_config",
]


@dataclass(frozen=True)
class CollectorSettings:
    endpoint: str = "tcp://127.0.0.1:5560"   # ROUTER the boxes' uplinks connect to


@dataclass(frozen=True)
class StatusSettings:
    host: str = "127.0.0.1"                 # the status page and JSON API; keep it on localhost or a VPN
    port: int = 8080                        # 0 picks a free port (logged, and printed by `central run`)

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"status.port must be 0..65535, got {self.port}")


@dataclass(frozen=True)
class BoxHealthSettings:
    late_after_s: float = 3.0               # s without a message: a box is late (heartbeats come every 1 s)
    offline_after_s: float = 30.0           # s without a message: offline

    def __post_init__(self) -> None:
        if not 0 < self.late_after_s < self.offline_after_s:
            raise ConfigError(f"need 0 < box_health.late_after_s < offline_after_s, got {self!r}")


@dataclass(frozen=True)
class CentralConfig:
    db: str = "central.sqlite"              # the event store (SQLite, WAL)
    log_level: str = "info"
    collector: CollectorSettings = field(default_factory=CollectorSettings)
    downlink: DownlinkSettings = field(default_factory=DownlinkSettings)
    status: StatusSettings = field(default_factory=StatusSettings)
    box_health: BoxHealthSettings = field(default_factory=BoxHealthSettings)
    association: AssociationConfig = field(default_factory=AssociationConfig)
    fusion: FusionSettings = field(default_factory=FusionSettings)
    classifier: ClassifierSettings = field(default_factory=ClassifierSettings)
    forecast: ForecastSettings = field(default_factory=ForecastSettings)

    @classmethod
    def from_dict(cls, table: dict) -> CentralConfig:
        return from_table(cls, table, "")


def load_central_config(path: str | Path | None) -> CentralConfig:
    """Read ``central.toml`` (None gives the defaults)."""
    return CentralConfig() if path is None else CentralConfig.from_dict(read_toml(path))
