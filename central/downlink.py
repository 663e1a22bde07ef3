"""Central's downlink: ``alert`` messages with a fused event and the level it means for every box.

For each box whose channel coordinates central knows, the level comes from the edge's own decision
(:func:`edge.gate.decide`: predicted PGA at the segment's nearest channel from the magnitude and the
fused hypocentre, a stop only from a trusted location). A fused location is trusted when at least
two boxes contributed, its misfit passes the edge's gate and its horizontal uncertainty is below
``max_err_h_km``. Published on a ZeroMQ PUB socket; boxes subscribe (:mod:`edge.downlink`).
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import zmq

from central.store import EventStore
from edge.gate import GateConfig, decide
from edge.geodesy import epicentral_km
from edge.wire import encode_message, message

__all__ = ["DownlinkSettings", "AlertPublisher", "segment_levels"]


@dataclass(frozen=True)
class DownlinkSettings:
    endpoint: str = ""            # PUB address the boxes' alert subscribers connect to ("" = no downlink)
    max_err_h_km: float = 10.0    # a fused location more uncertain than this is not trusted (no stop)
    min_boxes: int = 2            # boxes behind a fused location before it is trusted


def segment_levels(store: EventStore, origin: dict, magnitude: float | None, *, n_boxes: int,
                   settings: DownlinkSettings, gate: GateConfig | None = None) -> list[dict]:
    """``[{box, segment, level}]`` for every box with known channels; ``reason`` strings are not sent."""
    gate = gate or GateConfig()
    if magnitude is None:
        return []
    trusted = (n_boxes >= settings.min_boxes and origin.get("err_h_km") is not None
               and origin["err_h_km"] <= settings.max_err_h_km
               and origin.get("misfit") is not None and origin["misfit"] <= gate.misfit_max_s)
    out = []
    for box in store.boxes():
        g = store.box_channels(box["box"])
        if g is None or g[1].size == 0:
            continue
        ch0, lat, lon, _ = g
        distance = float(np.min(epicentral_km(origin["lat"], origin["lon"], lat, lon)))
        level, _ = decide(gate, trusted_location=trusted, magnitude=magnitude, distance_km=distance,
                          depth_km=origin["depth_km"])
        out.append({"box": box["box"], "segment": [int(ch0), int(ch0 + lat.size - 1)], "level": level})
    return out


class AlertPublisher:
    """The PUB socket of the downlink."""

    def __init__(self, endpoint: str, *, context: zmq.Context | None = None):
        self.socket = (context or zmq.Context.instance()).socket(zmq.PUB)
        self.socket.setsockopt(zmq.LINGER, 0)
        self.socket.setsockopt(zmq.SNDHWM, 1000)
        self.socket.bind(endpoint)
        self.seq = 0
        self.sent = 0

    def publish(self, event_id: int, origin: dict, magnitude: float | None, levels: list[dict]) -> dict:
        self.seq += 1
        msg = message("alert", "central", self.seq, sent=time.time(), event=str(event_id),
                      origin_time=origin["origin_time"], lat=origin["lat"], lon=origin["lon"],
                      depth_km=origin["depth_km"], mag=magnitude, err_h_km=origin.get("err_h_km"), levels=levels)
        try:
            self.socket.send(encode_message(msg), zmq.NOBLOCK)
            self.sent += 1
        except zmq.Again:
            pass      # PUB drops rather than blocks; the next fusion publishes again
        return msg

    def close(self) -> None:
        self.socket.close(0)
