"""Command line of the central node: ``python -m central run|events|export|collect|forecast|review``."""
from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from datetime import UTC

import numpy as np

from edge.exceptions import DasEewError
from edge.logs import configure_logging


def _jsonable(msg: dict) -> dict:
    """A message as one JSON line: packed arrays become lists (small) or their length (large)."""
    out = {}
    for key, value in msg.items():
        if isinstance(value, np.ndarray):
            out[key] = value.tolist() if value.size <= 64 else {"n": int(value.size), "dtype": value.dtype.str}
        elif isinstance(value, np.generic):
            out[key] = value.item()
        else:
            out[key] = value
    return out


def cmd_collect(args: argparse.Namespace) -> int:
    """Receive, acknowledge and print the boxes' messages, one JSON object a line."""
    from central.collector import Collector
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    out = open(args.out, "a", encoding="utf-8") if args.out else sys.stdout
    types = set(args.types.split(",")) if args.types else None

    def on_message(msg: dict) -> None:
        if types is None or msg["type"] in types:
            out.write(json.dumps(_jsonable(msg), default=str) + "\n")
            out.flush()
    collector = Collector(args.endpoint, on_message)
    print(json.dumps({"event": "collect_start", "endpoint": args.endpoint}), file=sys.stderr, flush=True)
    try:
        while not stop.is_set():
            collector.poll(0.1)
    finally:
        collector.close()
        print(json.dumps({"event": "collect_end", **collector.counts}), file=sys.stderr, flush=True)
        if out is not sys.stdout:
            out.close()
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    """The central node: collector, store, status page."""
    from central.config import load_central_config
    from central.node import CentralNode
    from edge.config import load_or_exit
    config = load_or_exit(load_central_config, args.config)
    if args.log_level is None:
        configure_logging(config.log_level)
    return CentralNode(config).run()


def _parse_time(text: str) -> float:
    """POSIX seconds, or ISO-8601 (UTC unless it says otherwise), or a duration back from now: 2h, 3d."""
    import time
    from datetime import datetime
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    if text[-1:] in units and text[:-1].replace(".", "", 1).isdigit():
        return time.time() - float(text[:-1]) * units[text[-1]]
    try:
        return float(text)
    except ValueError:
        pass
    try:
        t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a time: {text!r} (POSIX s, ISO-8601 or e.g. 2h, 7d)") from None
    return (t if t.tzinfo else t.replace(tzinfo=UTC)).timestamp()


def _open_store(args):
    from central.config import load_central_config
    from central.store import EventStore
    db = args.db or load_central_config(args.config).db
    return EventStore(db, readonly=True)


def cmd_events(args: argparse.Namespace) -> int:
    """List stored events, newest first."""
    from central.exports import iso
    store = _open_store(args)
    try:
        events = store.events(since=args.since, until=args.until, limit=args.limit)
    finally:
        store.close()
    for e in events:
        if args.json:
            print(json.dumps(e, default=str))
        else:
            mag = "M?" if e["mag"] is None else f"M{e['mag']:.1f}"
            err = "" if e["err_h_km"] is None else f" +-{e['err_h_km']:.1f} km"
            print(f"{e['id']:>6}  {iso(e['origin_time'])}  {e['lat']:8.4f} {e['lon']:9.4f} {e['depth_km']:5.1f} km"
                  f"{err}  {mag}  {e['level']:<8}  {' '.join(e['boxes'])}")
    if not args.json:
        print(f"{len(events)} event(s)", file=sys.stderr)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """Export stored events as QuakeML, CSV or GeoJSON."""
    from central.exports import FORMATS
    store = _open_store(args)
    try:
        events = [store.event(e["id"]) for e in store.events(since=args.since, until=args.until, limit=args.limit)]
    finally:
        store.close()
    text = FORMATS[args.format](events)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as fh:
            fh.write(text)
    else:
        sys.stdout.write(text)
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m central", description="das-eew central node")
    p.add_argument("--log-level", default=None, help="log level of the JSON logs on stderr (default: the "
                                                     "config's for run, warning otherwise)")
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="the central node: collect, store, serve the status page",
                       description="Collects the boxes' messages (ZeroMQ ROUTER), stores them in SQLite, acknowledges "
                                   "them once stored, tracks box health and serves the status page. Exit 78 on a "
                                   "bad config.")
    r.add_argument("--config", help="central.toml (default: built-in defaults)")
    r.set_defaults(func=cmd_run)
    for name, func, helptext in (("events", cmd_events, "list stored events, newest first"),
                                 ("export", cmd_export, "export stored events as QuakeML, CSV or GeoJSON")):
        q = sub.add_parser(name, help=helptext, description=helptext)
        q.add_argument("--config", help="central.toml, for its db path")
        q.add_argument("--db", help="the store file (overrides the config's)")
        q.add_argument("--since", type=_parse_time, help="origin time from (POSIX s, ISO-8601, or 2h / 7d ago)")
        q.add_argument("--until", type=_parse_time, help="origin time up to")
        q.add_argument("--limit", type=int, default=1000, help="at most this many events (default 1000)")
        if name == "events":
            q.add_argument("--json", action="store_true", help="one JSON object a line")
        else:
            q.add_argument("--format", choices=("quakeml", "csv", "geojson"), default="quakeml")
            q.add_argument("--out", help="write here (default: stdout)")
        q.set_defaults(func=func)
    c = sub.add_parser("collect", help="receive and acknowledge the boxes' messages; print them as JSON lines",
                       description="The collector alone (no store; `central run` is the node): binds a ZeroMQ ROUTER, "
                                   "checks, de-duplicates and acknowledges every box message and prints the new "
                                   "ones, one JSON object a line.")
    c.add_argument("--endpoint", default="tcp://127.0.0.1:5560", help="ROUTER bind address")
    c.add_argument("--out", help="append the messages to this file (default: stdout)")
    c.add_argument("--types", help="only print these message types (comma-separated)")
    c.set_defaults(func=cmd_collect)
    f = sub.add_parser("forecast", help="the yearly SafeNet forecast for --year from the catalog before it",
                       description="Computes the catalog indicators and map patches of the years before --year from "
                                   "the store's events or an imported catalog CSV (time, lat, lon, depth_km, "
                                   "magnitude), runs the SafeNet ONNX model (onnxruntime), stores the forecast and "
                                   "writes forecast-Y.csv, .geojson and .png. Prints a JSON summary.")
    f.add_argument("--year", type=int, required=True, help="the year forecast (the catalog up to 1 January of it)")
    f.add_argument("--config", help="central.toml ([forecast] and the db path)")
    f.add_argument("--db", help="the store file (overrides the config's)")
    f.add_argument("--catalog", help="catalog CSV to forecast from (default: the config's, else the store's events)")
    f.add_argument("--model", help="SafeNet .onnx with its .card.json (default: the config's, else the shipped one)")
    f.add_argument("--maps", help="maps.npz with the model's static layers (default: the config's, else none)")
    f.add_argument("--out", help="directory for the CSV, GeoJSON and PNG (default: the config's out_dir)")
    f.set_defaults(func=cmd_forecast)
    v = sub.add_parser("review", help="keep, relabel or drop the classifier's flagged training events",
                       description="Review the events `python -m models classifier clean` flagged: interactively, "
                                   "from an event,decision CSV (--from), or for simulated sets as an analyst who "
                                   "knows the truth (--truth events.json). Writes the decisions file that "
                                   "`python -m models classifier train --decisions` applies.")
    v.add_argument("flagged", help="the clean command's output (JSON)")
    v.add_argument("--out", required=True, help="decisions file to write (JSON)")
    v.add_argument("--from", dest="decisions_csv", help="decisions as event,decision lines (keep, drop or a class)")
    v.add_argument("--truth", help="simulated sets: decide from this events.json of `python -m sim classes`")
    v.set_defaults(func=cmd_review)
    return p


def cmd_forecast(args) -> int:
    """The yearly forecast: from the stored or an imported catalog, with the SafeNet ONNX model."""
    from dataclasses import replace

    from central.config import load_central_config
    from central.forecast import run_forecast
    from central.store import EventStore
    config = load_central_config(args.config)
    settings = config.forecast
    if args.model:
        settings = replace(settings, model=args.model)
    if args.maps:
        settings = replace(settings, maps=args.maps)
    store = EventStore(args.db or config.db)
    try:
        summary = run_forecast(args.year, settings, store, catalog_path=args.catalog, out_dir=args.out)
    finally:
        store.close()
    print(json.dumps(summary))
    return 0


def cmd_review(args) -> int:
    from central.review import review
    # prompts on stderr: stdout stays one JSON line for scripts
    result = review(args.flagged, out=args.out, decisions_csv=args.decisions_csv, truth=args.truth,
                    stdout=sys.stderr)
    print(json.dumps({"out": args.out, "reviewer": result["reviewer"], "flagged": result["flagged"],
                      **result["counts"]}))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(args.log_level or "warning")
    try:
        return args.func(args)
    except BrokenPipeError:
        return 0
    except (DasEewError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
