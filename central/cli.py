"""Command line of the central node: ``python -m central collect``."""
from __future__ import annotations

import argparse
import json
import signal
import sys
import threading

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


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m central", description="das-eew central node")
    p.add_argument("--log-level", default="warning", help="log level of the JSON logs on stderr")
    sub = p.add_subparsers(dest="command", required=True)
    c = sub.add_parser("collect", help="receive and acknowledge the boxes' messages; print them as JSON lines",
                       description="The collector alone (no store, fusion or downlink yet): binds a ZeroMQ ROUTER, "
                                   "checks, de-duplicates and acknowledges every box message and prints the new "
                                   "ones, one JSON object a line.")
    c.add_argument("--endpoint", default="tcp://127.0.0.1:5560", help="ROUTER bind address")
    c.add_argument("--out", help="append the messages to this file (default: stdout)")
    c.add_argument("--types", help="only print these message types (comma-separated)")
    c.set_defaults(func=cmd_collect)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(args.log_level)
    try:
        return args.func(args)
    except BrokenPipeError:
        return 0
    except (DasEewError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
