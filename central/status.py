"""The operators' status page and JSON API, served on localhost from the event store.

``GET /`` an HTML page (refreshing itself every 5 s): a map-like plot of the fiber segments and the
recent events (uncertainty circles, coloured by alarm level), the boxes and their health, the recent
events and the latest forecast. ``GET /api/boxes``, ``/api/events?since=POSIX&limit=N``,
``/api/events/<id>``, ``/api/forecast`` and ``/api/export?format=quakeml|csv|geojson`` give the same
as JSON (or the export's own format). Every request opens its own read-only connection, which SQLite's
WAL lets read beside the node's writer.
"""
from __future__ import annotations

import html
import json
import logging
import math
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

from central.config import CentralConfig
from central.exports import FORMATS, classified, iso
from central.store import EventStore, StoreError

log = logging.getLogger("central.status")
LEVEL_COLOURS = {"none": "#4a7", "advisory": "#e90", "stop": "#d22"}
CONTENT_TYPES = {"quakeml": "application/xml", "csv": "text/csv", "geojson": "application/geo+json"}
MAP_W, MAP_H, MAP_PAD = 640, 420, 30


def boxes_with_state(store: EventStore, config: CentralConfig, now: float | None = None) -> list[dict]:
    from central.node import box_state
    now = time.time() if now is None else now
    out = []
    for b in store.boxes():
        b["state"] = box_state(now - b["last_seen"], config.box_health)
        b["age_s"] = round(now - b["last_seen"], 1)
        out.append(b)
    return out


def _map_svg(boxes: list[dict], events: list[dict]) -> str:
    """Segments as lines, events as circles of radius err_h_km; a local equirectangular projection."""
    pts = [(b["lat_first"], b["lon_first"]) for b in boxes if b["lat_first"] is not None]
    pts += [(b["lat_last"], b["lon_last"]) for b in boxes if b["lat_last"] is not None]
    pts += [(e["lat"], e["lon"]) for e in events if e["lat"] is not None]
    if not pts:
        return f'<svg width="{MAP_W}" height="{MAP_H}" class="map"><text x="20" y="30">no boxes or events yet</text></svg>'
    lats, lons = [p[0] for p in pts], [p[1] for p in pts]
    lat0 = (min(lats) + max(lats)) / 2
    kx = 111.195 * math.cos(math.radians(lat0))
    span_km = max((max(lons) - min(lons)) * kx, (max(lats) - min(lats)) * 111.195, 10.0) * 1.1
    scale = (min(MAP_W, MAP_H) - 2 * MAP_PAD) / span_km
    cx, cy = (min(lons) + max(lons)) / 2, lat0

    def xy(lat, lon):
        return MAP_W / 2 + (lon - cx) * kx * scale, MAP_H / 2 - (lat - cy) * 111.195 * scale

    parts = [f'<svg width="{MAP_W}" height="{MAP_H}" class="map" viewBox="0 0 {MAP_W} {MAP_H}">',
             f'<rect width="{MAP_W}" height="{MAP_H}" fill="#f6f6f2"/>']
    for b in boxes:
        if b["lat_first"] is None:
            continue
        (x1, y1), (x2, y2) = xy(b["lat_first"], b["lon_first"]), xy(b["lat_last"], b["lon_last"])
        colour = {"online": "#236", "late": "#e90", "offline": "#999"}[b["state"]]
        parts.append(f'<line class="segment" x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" '
                     f'stroke="{colour}" stroke-width="4"><title>{html.escape(b["box"])}</title></line>')
    for e in events:
        if e["lat"] is None:
            continue
        x, y = xy(e["lat"], e["lon"])
        r = max(3.0, (e["err_h_km"] or 0.0) * scale)
        label = f'event {e["id"]} M{e["mag"]:.1f}' if e["mag"] is not None else f'event {e["id"]}'
        parts.append(f'<circle class="event" cx="{x:.1f}" cy="{y:.1f}" r="{r:.1f}" fill="{LEVEL_COLOURS[e["level"]]}" '
                     f'fill-opacity="0.35" stroke="{LEVEL_COLOURS[e["level"]]}"><title>{label}</title></circle>')
    parts.append(f'<text x="10" y="{MAP_H - 10}" font-size="11">{span_km / 1.1:.0f} km across</text></svg>')
    return "".join(parts)


def _table(rows: list[list], header: list[str], cls: str) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape('' if c is None else str(c))}</td>" for c in r) + "</tr>"
                   for r in rows)
    return f'<table class="{cls}"><tr>{head}</tr>{body}</table>'


def render_page(store: EventStore, config: CentralConfig) -> str:
    boxes = boxes_with_state(store, config)
    events = store.events(limit=50)
    box_rows = []
    for b in boxes:
        h = b["health"] or {}
        box_rows.append([b["box"], b["state"], b["age_s"], f'{b["segment_first"]}-{b["segment_last"]}',
                         h.get("frames"), h.get("lag_s"), h.get("relay"), h.get("journal_depth"), h.get("rss_mb")])
    ev_rows = []
    for e in events:
        kind, prob = classified(e)
        if kind is not None:
            kind = f'{kind} {prob:.2f} ({e["classification"].get("n_measurements")} measurements)'
        ev_rows.append([e["id"], iso(e["origin_time"]), f'{e["lat"]:.3f}', f'{e["lon"]:.3f}', f'{e["depth_km"]:.1f}',
                        None if e["err_h_km"] is None else f'{e["err_h_km"]:.1f}',
                        None if e["mag"] is None else f'{e["mag"]:.1f}', e["level"], " ".join(e["boxes"]), kind])
    forecast = store.latest_forecast()
    fc = "<p>no forecast yet</p>" if forecast is None else _forecast_html(forecast)
    return ("<!doctype html><html><head><meta charset='utf-8'><meta http-equiv='refresh' content='5'>"
            "<title>das-eew central</title><style>body{font-family:sans-serif;margin:1em}"
            "table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:2px 6px}</style>"
            "</head><body><h1>das-eew central</h1>"
            f"<h2>Line</h2>{_map_svg(boxes, events)}"
            "<h2>Boxes</h2>" + _table(box_rows, ["box", "state", "heard s ago", "channels", "frames", "lag s", "relay",
                                                 "journal", "RSS MiB"], "boxes")
            + "<h2>Recent events</h2>" + _table(ev_rows, ["id", "origin time (UTC)", "lat", "lon", "depth km",
                                                          "err_h km", "M", "alarm", "boxes", "class"], "events")
            + f"<h2>Forecast</h2>{fc}</body></html>")


def _forecast_html(forecast: dict, top: int = 10) -> str:
    """The latest forecast: a line of counts per class and the regions most likely to reach the first
    class edge."""
    regions = forecast["regions"]
    names = list(regions[0]["probabilities"]) if regions else []
    counts = ", ".join(f"{sum(r['class'] == k for r in regions)} {html.escape(k)}" for k in names)
    rows = [[r["region"], f'{r["south"]:.1f}-{r["north"]:.1f}', f'{r["west"]:.1f}-{r["east"]:.1f}', r["class"],
             f'{r.get("p_first_edge", 0.0):.2f}']
            for r in sorted(regions, key=lambda r: -r.get("p_first_edge", 0.0))[:top]]
    head = (f'<p>forecast {forecast["year"]} ({html.escape(forecast["model"])}), {len(regions)} regions: '
            f"{counts}</p>")
    edge = names[1].split("-")[0] if len(names) > 1 else "?"
    return head + _table(rows, ["region", "lat", "lon", "class", f"P(M >= {edge})"], "forecast")


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, fmt, *args) -> None:   # requests are not worth a log line each
        pass

    def do_GET(self) -> None:
        url = urlparse(self.path)
        q = {k: v[-1] for k, v in parse_qs(url.query).items()}
        try:
            store = EventStore(self.server.config.db, readonly=True)
        except StoreError as exc:
            return self._send(503, "application/json", json.dumps({"error": str(exc)}))
        try:
            self._route(store, url.path.rstrip("/") or "/", q)
        except (ValueError, KeyError) as exc:
            self._send(400, "application/json", json.dumps({"error": f"bad request: {exc}"}))
        except Exception as exc:  # noqa: BLE001 - a page bug must not look like a dead central
            log.exception("status request %s failed", self.path)
            self._send(500, "application/json", json.dumps({"error": f"{type(exc).__name__}: {exc}"}))
        finally:
            store.close()

    def _route(self, store: EventStore, path: str, q: dict) -> None:
        cfg = self.server.config
        if path == "/":
            return self._send(200, "text/html; charset=utf-8", render_page(store, cfg))
        if path == "/api/boxes":
            return self._json(boxes_with_state(store, cfg))
        if path == "/api/events":
            return self._json(store.events(since=float(q["since"]) if "since" in q else None,
                                           limit=int(q.get("limit", 100))))
        if path.startswith("/api/events/"):
            ev = store.event(int(path.rsplit("/", 1)[1]))
            return self._json(ev) if ev is not None else self._send(404, "application/json", '{"error": "no such event"}')
        if path == "/api/forecast":
            return self._json(store.latest_forecast())
        if path == "/api/export":
            fmt = q.get("format", "quakeml")
            if fmt not in FORMATS:
                raise ValueError(f"format must be one of {', '.join(FORMATS)}")
            events = [store.event(e["id"]) for e in store.events(limit=int(q.get("limit", 1000)))]
            return self._send(200, CONTENT_TYPES[fmt], FORMATS[fmt](events))
        self._send(404, "application/json", '{"error": "not found"}')

    def _json(self, obj) -> None:
        self._send(200, "application/json", json.dumps(obj, default=str))

    def _send(self, code: int, ctype: str, body: str) -> None:
        data = body.encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(data)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    config: CentralConfig


class StatusServer:
    """The status page in a background thread; ``port=0`` picks a free one (see :attr:`url`)."""

    def __init__(self, config: CentralConfig, *, host: str = "127.0.0.1", port: int = 8080):
        self.httpd = _Server((host, port), _Handler)
        self.httpd.config = config
        self.url = f"http://{host}:{self.httpd.server_address[1]}/"
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="status-http", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(5)
