"""Exports of the event store: QuakeML 1.2 (what ObsPy, SeisComP and the ISC read), CSV and GeoJSON.

Each takes the event dicts of :meth:`central.store.EventStore.event` (an event with its origins,
alarms and classification) and returns text. QuakeML carries every origin of an event (each box's
and the fused ones, the preferred one marked), the magnitude of the preferred origin (type ``Mdas``:
the edge's DAS strain-rate scaling, see edge/magnitude.py) and the event type when the classifier has
spoken. Units follow QuakeML: depth and uncertainties in metres, latitude/longitude uncertainties in
degrees.
"""
from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ET
from datetime import UTC, datetime

__all__ = ["FORMATS", "to_csv", "to_geojson", "to_quakeml"]

QML_NS = "http://quakeml.org/xmlns/quakeml/1.2"
BED_NS = "http://quakeml.org/xmlns/bed/1.2"
ID_PREFIX = "smi:das-eew"
KM_PER_DEG = 111.195
# classifier class -> QuakeML EventType
EVENT_TYPES = {"earthquake": "earthquake", "collapse": "mine collapse", "explosion": "explosion"}
CSV_COLUMNS = ("event", "origin_time", "lat", "lon", "depth_km", "err_h_km", "err_z_km", "mag", "level",
               "n_boxes", "boxes", "class", "p_class")


def iso(t: float | None) -> str | None:
    """POSIX seconds as ISO-8601 UTC with microseconds and a ``Z``."""
    if t is None:
        return None
    return datetime.fromtimestamp(t, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def classified(event: dict) -> tuple[str | None, float | None]:
    """The most probable class of a classified event and its probability; (None, None) if unclassified."""
    c = event.get("classification")
    if not c:
        return None, None
    probs = {k: c[k] for k in EVENT_TYPES if k in c}
    if not probs:
        return None, None
    best = max(probs, key=probs.get)
    return best, float(probs[best])


def _sub(parent: ET.Element, tag: str, text=None) -> ET.Element:
    el = ET.SubElement(parent, tag)
    if text is not None:
        el.text = str(text)
    return el


def _quantity(parent: ET.Element, tag: str, value, uncertainty=None) -> None:
    q = _sub(parent, tag)
    _sub(q, "value", repr(float(value)) if not isinstance(value, str) else value)
    if uncertainty is not None:
        _sub(q, "uncertainty", repr(float(uncertainty)))


def _origin(parent: ET.Element, o: dict, agency: str) -> None:
    el = _sub(parent, "origin")
    el.set("publicID", f"{ID_PREFIX}/origin/{o['id']}")
    _quantity(el, "time", iso(o["origin_time"]))
    err_deg = None if o.get("err_h_km") is None else o["err_h_km"] / KM_PER_DEG
    _quantity(el, "latitude", o["lat"], err_deg)
    _quantity(el, "longitude", o["lon"], err_deg)
    _quantity(el, "depth", o["depth_km"] * 1000.0, None if o.get("err_z_km") is None else o["err_z_km"] * 1000.0)
    _sub(el, "methodID", f"{ID_PREFIX}/method/{o['method']}")
    if o.get("n_picks") is not None or o.get("misfit") is not None:
        q = _sub(el, "quality")
        if o.get("n_picks") is not None:
            _sub(q, "usedPhaseCount", int(o["n_picks"]))
        if o.get("misfit") is not None:
            _sub(q, "standardError", repr(float(o["misfit"])))
    if o.get("err_h_km") is not None:
        u = _sub(el, "originUncertainty")
        _sub(u, "horizontalUncertainty", repr(o["err_h_km"] * 1000.0))
        _sub(u, "preferredDescription", "horizontal uncertainty")
    _sub(el, "evaluationMode", "automatic")
    info = _sub(el, "creationInfo")
    _sub(info, "agencyID", agency)
    _sub(info, "author", o.get("box") or "central")
    _sub(info, "creationTime", iso(o["received"]))


def to_quakeml(events: list[dict], *, agency: str = "das-eew") -> str:
    """QuakeML 1.2 BED of ``events`` (each with its ``origins``)."""
    ET.register_namespace("q", QML_NS)
    ET.register_namespace("", BED_NS)
    root = ET.Element(f"{{{QML_NS}}}quakeml")
    params = ET.SubElement(root, f"{{{BED_NS}}}eventParameters")
    params.set("publicID", f"{ID_PREFIX}/eventParameters")
    for ev in events:
        e = ET.SubElement(params, f"{{{BED_NS}}}event")
        e.set("publicID", f"{ID_PREFIX}/event/{ev['id']}")
        if ev.get("preferred_origin") is not None:
            _sub(e, "preferredOriginID", f"{ID_PREFIX}/origin/{ev['preferred_origin']}")
        if ev.get("mag") is not None:
            _sub(e, "preferredMagnitudeID", f"{ID_PREFIX}/magnitude/{ev['id']}")
        kind, p = classified(ev)
        if kind is not None:
            _sub(e, "type", EVENT_TYPES[kind])
            _sub(e, "typeCertainty", "known" if p >= 0.9 else "suspected")
        levels = sorted({a["level"] for a in ev.get("alarms", [])})
        desc = _sub(e, "description")
        _sub(desc, "text", f"DAS on {', '.join(ev.get('boxes', [])) or 'no box'}; alarms: {', '.join(levels) or 'none'}")
        _sub(desc, "type", "region name")
        for o in ev.get("origins", []):
            _origin(e, o, agency)
        if ev.get("mag") is not None:
            m = _sub(e, "magnitude")
            m.set("publicID", f"{ID_PREFIX}/magnitude/{ev['id']}")
            _quantity(m, "mag", ev["mag"])
            _sub(m, "type", "Mdas")
            if ev.get("preferred_origin") is not None:
                _sub(m, "originID", f"{ID_PREFIX}/origin/{ev['preferred_origin']}")
    for el in root.iter():        # plain tags of _sub belong to the BED namespace too
        if not el.tag.startswith("{"):
            el.tag = f"{{{BED_NS}}}{el.tag}"
    return ET.tostring(root, encoding="unicode", xml_declaration=True)


def to_csv(events: list[dict]) -> str:
    """One row per event (its preferred origin), columns :data:`CSV_COLUMNS`; times ISO-8601 UTC."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for ev in events:
        kind, p = classified(ev)
        w.writerow([ev["id"], iso(ev["origin_time"]), _num(ev["lat"]), _num(ev["lon"]), _num(ev["depth_km"]),
                    _num(ev["err_h_km"]), _num(ev["err_z_km"]), _num(ev["mag"]), ev["level"], ev["n_boxes"],
                    " ".join(ev.get("boxes", [])), kind or "", "" if p is None else f"{p:.3f}"])
    return buf.getvalue()


def to_geojson(events: list[dict]) -> str:
    """A FeatureCollection of points (lon, lat, -depth in m) with the event's figures as properties."""
    features = []
    for ev in events:
        if ev["lat"] is None:
            continue
        kind, p = classified(ev)
        features.append({
            "type": "Feature", "id": ev["id"],
            "geometry": {"type": "Point", "coordinates": [ev["lon"], ev["lat"], -1000.0 * ev["depth_km"]]},
            "properties": {"origin_time": iso(ev["origin_time"]), "depth_km": ev["depth_km"],
                           "err_h_km": ev["err_h_km"], "err_z_km": ev["err_z_km"], "mag": ev["mag"],
                           "level": ev["level"], "boxes": ev.get("boxes", []), "class": kind, "p_class": p},
        })
    return json.dumps({"type": "FeatureCollection", "features": features}, indent=1)


def _num(x) -> str:
    return "" if x is None else f"{x:.6g}"


FORMATS = {"quakeml": to_quakeml, "csv": to_csv, "geojson": to_geojson}
