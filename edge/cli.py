"""Command line of the edge: ``python -m edge detect RECORD --json``."""
from __future__ import annotations

import argparse
import json
import sys
import tomllib
from pathlib import Path

from edge.exceptions import DasEewError
from edge.logs import configure_logging, log_event


def _detector_config(path: str | None):
    from edge.detection import DetectorConfig
    if path is None:
        return DetectorConfig()
    with open(path, "rb") as fh:
        table = tomllib.load(fh)
    return DetectorConfig.from_dict(table.get("detector", table))


def cmd_detect(args: argparse.Namespace) -> int:
    """Print the P candidates of fiber records."""
    import logging

    from edge.replay import detect_record, detector_for_record
    config = _detector_config(args.config)
    log = logging.getLogger("edge.detect")
    n_total = 0
    for path in args.records:
        detector, _ = detector_for_record(path, config)
        n = 0
        for pick in detect_record(path, frame_s=args.frame_s, detector=detector):
            n += 1
            if args.json:
                print(json.dumps({**pick.to_json(), "record": str(path)}), flush=False)
            else:
                print(f"{pick.channel:6d} {pick.time:.3f} snr={pick.snr:6.1f} amp={pick.amplitude:.3g} "
                      f"pol={pick.polarity:+d} slow={pick.slowness_s_per_km:+.3f}s/km")
        log_event(log, "record_done", record=str(path), picks=n, **detector.stats())
        n_total += n
    sys.stdout.flush()
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m edge", description="das-eew trackside edge")
    p.add_argument("--log-level", default="warning", help="log level of the JSON logs on stderr")
    sub = p.add_subparsers(dest="command", required=True)
    d = sub.add_parser("detect", help="print the P-candidate picks of fiber records",
                       description="Run the detection chain over fiber records (.npz or .h5) and print "
                                   "the P candidates, one a line (JSON with --json).")
    d.add_argument("records", nargs="+", type=Path, help="fiber record files")
    d.add_argument("--json", action="store_true", help="one JSON object a line")
    d.add_argument("--config", help="TOML with a [detector] table (see edge.detection.DetectorConfig)")
    d.add_argument("--frame-s", type=float, default=1.0, help="frame length fed to the chain, s")
    d.set_defaults(func=cmd_detect)
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
