"""The event store: one SQLite file in WAL mode, its schema versioned and migrated in place.

What it holds: every box (its segment, software and latest health, with a sampled health log),
events and the origins that located them (each box's, then the fused ones), the picks of located
events, alarms, classifications and forecasts. Writes come from central's one collector thread;
readers (the status page, ``python -m central events``, exports) open their own connections, which
WAL lets run beside the writer.

A box's resend of a message central stored but had not acknowledged (central died in between) is
recognised by ``UNIQUE(box, seq)`` and ignored, so nothing is stored twice across restarts.

Migrations are SQL scripts in :data:`MIGRATIONS`; ``MIGRATIONS[i]`` takes the file from version
``i`` to ``i + 1`` inside one transaction, and ``PRAGMA user_version`` records where a file stands.
A file newer than this code is refused rather than guessed at.
"""
from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from central.association import AssociationConfig, Associator, Solution
from edge.exceptions import DasEewError

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "AssociationConfig", "EventStore", "StoreError"]

MIGRATIONS: list[str] = [
    # 0 -> 1: the first schema
    """
    CREATE TABLE boxes (
        box TEXT PRIMARY KEY, first_seen REAL NOT NULL, last_seen REAL NOT NULL,
        segment_first INTEGER, segment_last INTEGER, fs REAL, software TEXT,
        lat_first REAL, lon_first REAL, lat_last REAL, lon_last REAL,
        health TEXT, last_heartbeat REAL, heartbeats INTEGER NOT NULL DEFAULT 0);
    CREATE TABLE box_health (box TEXT NOT NULL REFERENCES boxes(box), time REAL NOT NULL, health TEXT NOT NULL);
    CREATE INDEX box_health_time ON box_health(box, time);
    CREATE TABLE events (
        id INTEGER PRIMARY KEY, created REAL NOT NULL, updated REAL NOT NULL,
        origin_time REAL, lat REAL, lon REAL, depth_km REAL, err_h_km REAL, err_z_km REAL,
        mag REAL, level TEXT NOT NULL DEFAULT 'none', preferred_origin INTEGER, n_boxes INTEGER NOT NULL DEFAULT 0);
    CREATE INDEX events_time ON events(origin_time);
    CREATE TABLE edge_events (box TEXT NOT NULL, edge_event TEXT NOT NULL,
        event_id INTEGER NOT NULL REFERENCES events(id), PRIMARY KEY (box, edge_event));
    CREATE TABLE origins (
        id INTEGER PRIMARY KEY, event_id INTEGER NOT NULL REFERENCES events(id),
        box TEXT, seq INTEGER, edge_event TEXT, method TEXT NOT NULL,
        origin_time REAL NOT NULL, lat REAL NOT NULL, lon REAL NOT NULL, depth_km REAL NOT NULL,
        err_h_km REAL, err_z_km REAL, misfit REAL, n_picks INTEGER, curvature_a REAL, mag REAL,
        update_no INTEGER, data_time REAL, since_first_pick_s REAL, received REAL NOT NULL,
        UNIQUE (box, seq));
    CREATE INDEX origins_event ON origins(event_id);
    CREATE TABLE alarms (
        id INTEGER PRIMARY KEY, event_id INTEGER NOT NULL REFERENCES events(id),
        box TEXT NOT NULL, seq INTEGER NOT NULL, edge_event TEXT NOT NULL, level TEXT NOT NULL,
        reason TEXT, segment_first INTEGER, segment_last INTEGER, data_time REAL,
        since_first_pick_s REAL, issued REAL, received REAL NOT NULL, UNIQUE (box, seq));
    CREATE INDEX alarms_event ON alarms(event_id);
    CREATE TABLE picks (
        box TEXT NOT NULL, seq INTEGER NOT NULL, edge_event TEXT NOT NULL, channel INTEGER NOT NULL,
        time REAL NOT NULL, snr REAL, amp REAL);
    CREATE INDEX picks_edge_event ON picks(box, edge_event);
    CREATE UNIQUE INDEX picks_once ON picks(box, seq, channel);
    CREATE TABLE classifications (
        event_id INTEGER NOT NULL REFERENCES events(id), model TEXT NOT NULL, created REAL NOT NULL,
        n_measurements INTEGER, probabilities TEXT NOT NULL);
    CREATE TABLE forecasts (
        id INTEGER PRIMARY KEY, year INTEGER NOT NULL, model TEXT NOT NULL, created REAL NOT NULL,
        regions TEXT NOT NULL);
    """,
    # 1 -> 2: every box's channel coordinates (from its hello), so central can relocate with all picks
    """
    CREATE TABLE box_channels (
        box TEXT PRIMARY KEY REFERENCES boxes(box), ch0 INTEGER NOT NULL,
        lat BLOB NOT NULL, lon BLOB NOT NULL, elev_m BLOB NOT NULL);
    """,
]
SCHEMA_VERSION = len(MIGRATIONS)
LEVELS = ("none", "advisory", "stop")
HEALTH_LOG_EVERY_S = 60.0   # one sampled heartbeat per box and minute: ~1,440 rows a day per box


class StoreError(DasEewError):
    """The store file cannot be used (newer schema, not a database, ...)."""


class EventStore:
    """Central's SQLite event store (see the module docstring).

    Parameters
    ----------
    path : the database file (created with the current schema if missing) or ``":memory:"``.
    association : how box events are merged into central events.
    readonly : open for reading only (status page, CLI queries).
    travel_time_p : ``f(epicentral_km, depth_km) -> s``, the first-P travel time; enables association
        by arrival times (see :class:`AssociationConfig`).
    """

    def __init__(self, path: str | Path, *, association: AssociationConfig | None = None, readonly: bool = False,
                 travel_time_p: Callable[[np.ndarray, float], np.ndarray] | None = None):
        self.path = str(path)
        self.associator = Associator(association or AssociationConfig(), travel_time_p)
        try:
            if readonly:
                self.db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=10,
                                          isolation_level=None, check_same_thread=False)
            else:
                # isolation_level=None: transactions are ours (begin/commit and per-call savepoints)
                self.db = sqlite3.connect(self.path, timeout=10, isolation_level=None)
                self.db.execute("PRAGMA journal_mode=WAL")
                # FULL: a committed message survives a power cut, which is what central's ack promises;
                # central commits once per batch of messages (begin/commit), so this costs one fsync a batch.
                self.db.execute("PRAGMA synchronous=FULL")
            self.db.execute("PRAGMA foreign_keys=ON")
            self.db.row_factory = sqlite3.Row
            version = self.db.execute("PRAGMA user_version").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path}: not a usable SQLite database ({exc})") from None
        if version > SCHEMA_VERSION:
            raise StoreError(f"{self.path}: schema version {version} is newer than this software's {SCHEMA_VERSION}")
        if version < SCHEMA_VERSION:
            if readonly:
                raise StoreError(f"{self.path}: schema version {version}, needs migrating (open it read-write once)")
            self._migrate(version)
        self._last_health_log: dict[str, float] = {}

    @property
    def version(self) -> int:
        return self.db.execute("PRAGMA user_version").fetchone()[0]

    def _migrate(self, version: int) -> None:
        for target in range(version + 1, SCHEMA_VERSION + 1):
            script = MIGRATIONS[target - 1]
            # executescript commits first; the explicit BEGIN makes script + version bump one transaction
            self.db.executescript(f"BEGIN;\n{script}\nPRAGMA user_version = {target};\nCOMMIT;")

    def close(self) -> None:
        if self.db.in_transaction:
            self.db.execute("COMMIT")
        self.db.close()

    def begin(self) -> None:
        """Start a batch: what the calls store is committed together by :meth:`commit`."""
        if not self.db.in_transaction:
            self.db.execute("BEGIN IMMEDIATE")

    def commit(self) -> None:
        """Make the batch durable (central acknowledges messages only after this)."""
        if self.db.in_transaction:
            self.db.execute("COMMIT")

    @contextmanager
    def _tx(self) -> Iterator[None]:
        """One call's writes, all or nothing: a savepoint inside a batch, its own transaction outside."""
        self.db.execute("SAVEPOINT call")
        try:
            yield
        except BaseException:
            self.db.execute("ROLLBACK TO call")
            self.db.execute("RELEASE call")
            raise
        self.db.execute("RELEASE call")

    # --- boxes -----------------------------------------------------------------------------------
    def _touch_box(self, box: str, now: float) -> None:
        self.db.execute("INSERT INTO boxes (box, first_seen, last_seen) VALUES (?, ?, ?) "
                        "ON CONFLICT(box) DO UPDATE SET last_seen = excluded.last_seen", (box, now, now))

    def record_hello(self, msg: dict, now: float | None = None) -> None:
        """A box announced itself: its segment, sampling rate, software and the ends of its fiber."""
        now = time.time() if now is None else now
        lat, lon = np.asarray(msg["lat"]), np.asarray(msg["lon"])
        with self._tx():
            self._touch_box(msg["box"], now)
            self.db.execute("UPDATE boxes SET segment_first=?, segment_last=?, fs=?, software=?, lat_first=?, "
                            "lon_first=?, lat_last=?, lon_last=? WHERE box=?",
                            (msg["segment"][0], msg["segment"][1], msg["fs"], msg["software"],
                             float(lat[0]) if lat.size else None, float(lon[0]) if lon.size else None,
                             float(lat[-1]) if lat.size else None, float(lon[-1]) if lon.size else None, msg["box"]))
            self.db.execute("INSERT OR REPLACE INTO box_channels VALUES (?, ?, ?, ?, ?)",
                            (msg["box"], msg["segment"][0], lat.astype("<f8").tobytes(), lon.astype("<f8").tobytes(),
                             np.asarray(msg["elev_m"]).astype("<f8").tobytes()))

    def box_channels(self, box: str) -> tuple[int, np.ndarray, np.ndarray, np.ndarray] | None:
        """``(ch0, lat, lon, elev_m)`` of a box's channels as its latest hello gave them; None if unknown."""
        r = self.db.execute("SELECT * FROM box_channels WHERE box=?", (box,)).fetchone()
        if r is None:
            return None
        return (r["ch0"], *(np.frombuffer(r[k], "<f8") for k in ("lat", "lon", "elev_m")))

    def record_heartbeat(self, msg: dict, now: float | None = None) -> None:
        """Keep a box's latest health, and one sample of it a minute in ``box_health``."""
        now = time.time() if now is None else now
        box, health = msg["box"], json.dumps(msg["health"], default=_json_default)
        with self._tx():
            self._touch_box(box, now)
            self.db.execute("UPDATE boxes SET health=?, last_heartbeat=?, heartbeats=heartbeats+1 WHERE box=?",
                            (health, now, box))
            if now - self._last_health_log.get(box, -np.inf) >= HEALTH_LOG_EVERY_S:
                self._last_health_log[box] = now
                self.db.execute("INSERT INTO box_health (box, time, health) VALUES (?, ?, ?)", (box, now, health))

    def boxes(self) -> list[dict]:
        rows = self.db.execute("SELECT * FROM boxes ORDER BY box").fetchall()
        out = []
        for r in rows:
            d = dict(r)
            d["health"] = json.loads(d["health"]) if d["health"] else None
            out.append(d)
        return out

    # --- events, origins, alarms, picks ----------------------------------------------------------
    def add_location(self, msg: dict, now: float | None = None) -> int | None:
        """Store a box's ``location``; return the central event id, or None for a resent duplicate."""
        now = time.time() if now is None else now
        with self._tx():
            if self._seen(msg):
                return None
            self._touch_box(msg["box"], now)
            first_detection = float(msg["data_time"]) - float(msg["since_first_pick_s"])
            event_id = self._event_for(msg["box"], msg["event"], now,
                                       Solution(msg["origin_time"], msg["lat"], msg["lon"], msg["depth_km"],
                                                 msg.get("err_h_km"), first_detection))
            self.db.execute(
                "INSERT INTO origins (event_id, box, seq, edge_event, method, origin_time, lat, lon, depth_km, "
                "err_h_km, err_z_km, misfit, n_picks, curvature_a, mag, update_no, data_time, since_first_pick_s, "
                "received) VALUES (?, ?, ?, ?, 'edge', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (event_id, msg["box"], msg["seq"], msg["event"], msg["origin_time"], msg["lat"], msg["lon"],
                 msg["depth_km"], msg.get("err_h_km"), msg.get("err_z_km"), msg["misfit"], msg["n_picks"],
                 msg.get("curvature_a"), msg.get("mag"), msg["update"], msg["data_time"],
                 msg["since_first_pick_s"], now))
            self._prefer(event_id, now)
        return event_id

    def add_origin(self, event_id: int, origin: dict, *, method: str, now: float | None = None) -> int:
        """Store an origin computed at central (``method`` e.g. ``"fused"``); it becomes preferred when
        it is at least as well constrained as the current preferred origin."""
        now = time.time() if now is None else now
        keys = ("origin_time", "lat", "lon", "depth_km", "err_h_km", "err_z_km", "misfit", "n_picks", "mag")
        with self._tx():
            cur = self.db.execute(
                f"INSERT INTO origins (event_id, method, received, {', '.join(keys)}) "
                f"VALUES (?, ?, ?, {', '.join('?' * len(keys))})",
                (event_id, method, now, *(origin.get(k) for k in keys)))
            self._prefer(event_id, now)
        return cur.lastrowid

    def add_alarm(self, msg: dict, now: float | None = None) -> int | None:
        """Store a box's ``alarm``; return the central event id, or None for a resent duplicate."""
        now = time.time() if now is None else now
        with self._tx():
            if self._seen(msg):
                return None
            self._touch_box(msg["box"], now)
            event_id = self._event_for(msg["box"], msg["event"], now, None)
            self.db.execute(
                "INSERT INTO alarms (event_id, box, seq, edge_event, level, reason, segment_first, segment_last, "
                "data_time, since_first_pick_s, issued, received) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (event_id, msg["box"], msg["seq"], msg["event"], msg["level"], msg["reason"], msg["segment"][0],
                 msg["segment"][1], msg["data_time"], msg["since_first_pick_s"], msg["issued"], now))
            level = self.db.execute("SELECT level FROM events WHERE id=?", (event_id,)).fetchone()[0]
            if LEVELS.index(msg["level"]) > LEVELS.index(level):
                self.db.execute("UPDATE events SET level=?, updated=? WHERE id=?", (msg["level"], now, event_id))
        return event_id

    def add_picks(self, msg: dict) -> int:
        """Store the picks of a ``picks`` message that belongs to an event; return how many were new.
        Picks outside any event (noise triggers) are not kept: they would dominate the store's growth."""
        if msg.get("event") is None:
            return 0
        times = float(msg["t_ref"]) + np.asarray(msg["dt"], dtype=np.float64)
        rows = [(msg["box"], msg["seq"], msg["event"], int(c), float(t), float(s), float(a))
                for c, t, s, a in zip(msg["channel"], times, msg["snr"], msg["amp"])]
        with self._tx():
            before = self.db.total_changes
            self.db.executemany("INSERT OR IGNORE INTO picks VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
            n = self.db.total_changes - before
        return n

    def _seen(self, msg: dict) -> bool:
        table = "origins" if msg["type"] == "location" else "alarms"
        return self.db.execute(f"SELECT 1 FROM {table} WHERE box=? AND seq=?", (msg["box"], msg["seq"])).fetchone() \
            is not None

    def _event_for(self, box: str, edge_event: str, now: float, solution: Solution | None) -> int:
        row = self.db.execute("SELECT event_id FROM edge_events WHERE box=? AND edge_event=?",
                              (box, edge_event)).fetchone()
        if row is not None:
            return row[0]
        event_id = self._central_event(edge_event)
        if event_id is None and solution is not None:
            event_id = self.associator.associate(self.db, box, solution, self.box_channels)
        if event_id is None:
            event_id = self.db.execute("INSERT INTO events (created, updated) VALUES (?, ?)", (now, now)).lastrowid
        self.db.execute("INSERT INTO edge_events VALUES (?, ?, ?)", (box, edge_event, event_id))
        self.db.execute("UPDATE events SET n_boxes=(SELECT COUNT(DISTINCT box) FROM edge_events WHERE event_id=?) "
                        "WHERE id=?", (event_id, event_id))
        return event_id

    def _central_event(self, edge_event: str) -> int | None:
        """The event a box's ``central-<id>`` alarm is about (raised on central's own alert), if stored."""
        prefix, _, number = edge_event.partition("-")
        if prefix != "central" or not number.isdigit():
            return None
        r = self.db.execute("SELECT id FROM events WHERE id=?", (int(number),)).fetchone()
        return None if r is None else r[0]

    def _prefer(self, event_id: int, now: float) -> None:
        """Re-choose the event's preferred origin after a new one arrived: the latest fused origin
        if there is one; otherwise, among each box's latest origin (a box's newer location supersedes
        its older ones: it carries that box's current best answer), the smallest horizontal
        uncertainty."""
        rows = self.db.execute(
            "SELECT * FROM origins WHERE event_id=? AND id IN (SELECT MAX(id) FROM origins WHERE event_id=? "
            "GROUP BY COALESCE(box, '') || method)", (event_id, event_id)).fetchall()
        fused = [r for r in rows if r["method"] != "edge"]
        best = max(fused, key=lambda r: r["id"]) if fused else min(rows, key=lambda r: (_spread(r), -r["id"]))
        self.db.execute("UPDATE events SET preferred_origin=?, origin_time=?, lat=?, lon=?, depth_km=?, err_h_km=?, "
                        "err_z_km=?, mag=COALESCE(?, mag), updated=? WHERE id=?",
                        (best["id"], best["origin_time"], best["lat"], best["lon"], best["depth_km"],
                         best["err_h_km"], best["err_z_km"], best["mag"], now, event_id))

    def event_of(self, box: str, edge_event: str) -> int | None:
        """The central event a box's event belongs to (None until its first location or alarm)."""
        r = self.db.execute("SELECT event_id FROM edge_events WHERE box=? AND edge_event=?", (box, edge_event)).fetchone()
        return None if r is None else r[0]

    def event_picks(self, event_id: int) -> list[sqlite3.Row]:
        """Every stored pick of the event, from all its boxes: box, channel, time, snr, amp."""
        return self.db.execute(
            "SELECT p.box, p.channel, p.time, p.snr, p.amp FROM picks p JOIN edge_events x "
            "ON x.box = p.box AND x.edge_event = p.edge_event WHERE x.event_id=? ORDER BY p.time",
            (event_id,)).fetchall()

    # --- classifications and forecasts (issues 7 and 8 fill these) -------------------------------
    def add_classification(self, event_id: int, model: str, probabilities: dict[str, float],
                           n_measurements: int, now: float | None = None) -> None:
        with self._tx():
            self.db.execute("INSERT INTO classifications VALUES (?, ?, ?, ?, ?)",
                            (event_id, model, time.time() if now is None else now, n_measurements,
                             json.dumps(probabilities)))

    def add_forecast(self, year: int, model: str, regions: list[dict], now: float | None = None) -> int:
        with self._tx():
            return self.db.execute("INSERT INTO forecasts (year, model, created, regions) VALUES (?, ?, ?, ?)",
                                   (year, model, time.time() if now is None else now,
                                    json.dumps(regions, default=_json_default))).lastrowid

    def latest_forecast(self) -> dict | None:
        r = self.db.execute("SELECT * FROM forecasts ORDER BY created DESC LIMIT 1").fetchone()
        return None if r is None else {**dict(r), "regions": json.loads(r["regions"])}

    # --- queries ---------------------------------------------------------------------------------
    def events(self, *, since: float | None = None, until: float | None = None, limit: int = 1000) -> list[dict]:
        """Located events by origin time, newest first, each with its alarms and latest classification."""
        rows = self.db.execute(
            "SELECT * FROM events WHERE origin_time IS NOT NULL AND origin_time >= ? AND origin_time <= ? "
            "ORDER BY origin_time DESC LIMIT ?",
            (-np.inf if since is None else since, np.inf if until is None else until, limit)).fetchall()
        return [self._event_dict(r) for r in rows]

    def event(self, event_id: int) -> dict | None:
        r = self.db.execute("SELECT * FROM events WHERE id=?", (event_id,)).fetchone()
        if r is None:
            return None
        d = self._event_dict(r)
        d["origins"] = [dict(o) for o in self.db.execute(
            "SELECT * FROM origins WHERE event_id=? ORDER BY received, id", (event_id,))]
        d["picks"] = [dict(p) for p in self.db.execute(
            "SELECT p.* FROM picks p JOIN edge_events x ON x.box = p.box AND x.edge_event = p.edge_event "
            "WHERE x.event_id=? ORDER BY p.time", (event_id,))]
        return d

    def _event_dict(self, r: sqlite3.Row) -> dict:
        d = dict(r)
        d["alarms"] = [dict(a) for a in self.db.execute(
            "SELECT box, level, reason, segment_first, segment_last, data_time, since_first_pick_s, issued "
            "FROM alarms WHERE event_id=? ORDER BY issued", (r["id"],))]
        d["boxes"] = [x[0] for x in self.db.execute("SELECT DISTINCT box FROM edge_events WHERE event_id=? "
                                                   "ORDER BY box", (r["id"],))]
        c = self.db.execute("SELECT model, probabilities, n_measurements FROM classifications WHERE event_id=? "
                            "ORDER BY created DESC LIMIT 1", (r["id"],)).fetchone()
        d["classification"] = None if c is None else {"model": c["model"], "n_measurements": c["n_measurements"],
                                                      **json.loads(c["probabilities"])}
        return d

    def counts(self) -> dict[str, int]:
        tables = ("boxes", "box_health", "events", "origins", "alarms", "picks", "classifications", "forecasts")
        return {t: self.db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in tables}


def _spread(origin: sqlite3.Row) -> float:
    e = origin["err_h_km"]
    return np.inf if e is None else float(e)


def _json_default(obj):
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")
