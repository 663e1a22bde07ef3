"""Command line of the edge: ``python -m edge detect RECORD --json``."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from edge.exceptions import DasEewError
from edge.logs import configure_logging, log_event


def _edge_config(path: str | None):
    from edge.config import load_config
    return load_config(path)


def cmd_detect(args: argparse.Namespace) -> int:
    """Print the P candidates of fiber records."""
    import logging

    from edge.replay import detect_record, detector_for_record
    config = _edge_config(args.config).detector
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


def _locator(model_path: str | None):
    from edge.location import Locator
    from edge.velocity import VelocityModel
    model = VelocityModel.from_toml(model_path) if model_path else VelocityModel.default()
    return Locator(model)


def _json_default(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def cmd_replay(args: argparse.Namespace) -> int:
    """Run fiber records through the daemon's alarm path; print its location and alarm messages."""
    from dataclasses import replace

    from edge.channels import ChannelGeometry
    from edge.pipeline import build_chain
    from edge.record import iter_record_chunks, read_record_header
    from edge.replay import run_chunks
    config = _edge_config(args.config)
    config = replace(config, box=args.box, **({"model": args.model} if args.model else {}))
    for path in args.records:
        header = read_record_header(path)
        header.validate()

        def emit(msg: dict, path=path) -> None:
            if msg["type"] not in ("location", "alarm"):     # snippets are for central's classifier
                return
            if args.json:
                print(json.dumps({**msg, "record": str(path)}, default=_json_default), flush=True)
            else:
                print(_describe(msg, path), flush=True)
        chain = build_chain(config, ChannelGeometry(header.lat, header.lon, header.elev_m), fs_hz=header.fs,
                            ch0=0, emit=emit)
        n_frame = max(1, int(round(args.frame_s * header.fs)))
        run_chunks(chain.detector, iter_record_chunks(path, n_frame), t0=header.t0, fs_hz=header.fs)
    return 0


def _describe(msg: dict, path) -> str:
    if msg["type"] == "location":
        mag = f"M{msg['mag']:.1f}" if msg["mag"] is not None else "M?"
        return (f"{path.name}: location #{msg['update']} +{msg['since_first_pick_s']:.2f}s {msg['lat']:.3f} "
                f"{msg['lon']:.3f} {msg['depth_km']:.1f} km +-{msg['err_h_km']:.1f} km {mag} "
                f"misfit {msg['misfit']:.3f} s a={msg['curvature_a']} ({msg['n_picks']} picks)")
    return f"{path.name}: ALARM {msg['level'].upper()} +{msg['since_first_pick_s']:.2f}s {msg['reason']}"


def cmd_locate(args: argparse.Namespace) -> int:
    """Locate a set of P picks from a CSV file."""
    from edge.picks_io import read_picks_csv
    lat, lon, elev, t = read_picks_csv(args.picks)
    loc = _locator(args.model).locate(lat, lon, elev, t)
    d = loc.to_json()
    if args.json:
        print(json.dumps(d, default=_json_default))
    else:
        for k, v in d.items():
            print(f"{k:16s} {v}")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    """The paper's table on a simulated scenario set (needs the simulator, a development tool)."""
    from sim.evaluation import format_table, run_event, stop_level_tradeoff, summarize, trust_roc
    from sim.scenarios import scenario
    kw = {"seed": args.seed}
    if args.scenarios == "random":
        kw.update(n_events=args.n_events)
    items = scenario(args.scenarios, **kw)
    if args.limit:
        items = items[: args.limit]
    locator = _locator(args.model)
    results = []
    for item in items:
        r = run_event(item, locator=locator, perturbation=args.earth_perturbation)
        results.append(r)
        if not args.json:
            print(format_table([r]).splitlines()[-1] if results[1:] else format_table([r]), flush=True)
        else:
            print(json.dumps(r.to_json()), flush=True)
    summary = summarize(results)
    summary.update(scenarios=args.scenarios, seed=args.seed, earth_perturbation=args.earth_perturbation,
                   trust_roc_2s=trust_roc(results),
                   stop_level_tradeoff=stop_level_tradeoff(results))
    if args.json:
        print(json.dumps(summary))
    else:
        paper = {"frac_near_within_12km_at_2s": "0.73 (11 of 15)"}
        for k, v in summary.items():
            if isinstance(v, list) and v and isinstance(v[0], dict):      # the ROC and trade-off tables
                print(f"{k}:")
                for row in v:
                    print("    " + "  ".join(f"{c} {'-' if x is None else round(x, 3)}" for c, x in row.items()))
                continue
            extra = f"   (paper: {paper[k]})" if k in paper else ""
            print(f"{k:30s} {v if not isinstance(v, float) else round(v, 3)}{extra}")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    """The daemon."""
    from edge.config import load_config, load_or_exit
    from edge.daemon import EdgeDaemon
    config = load_or_exit(load_config, args.config)
    if args.log_level is None:
        configure_logging(config.log_level)
    daemon = EdgeDaemon(config, config_path=args.config, replay=args.replay, speed=args.speed,
                        frame_s=args.frame_s, linger_s=args.linger_s)
    return daemon.run()


def _control(args: argparse.Namespace, cmd: str) -> dict:
    from edge.config import load_config
    from edge.control import request
    endpoint = args.endpoint or load_config(args.config).control_endpoint
    return request(endpoint, cmd, timeout_s=args.timeout_s)


def cmd_status(args: argparse.Namespace) -> int:
    """Show a running daemon's health."""
    try:
        answer = _control(args, "status")
    except TimeoutError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 3
    if args.json:
        print(json.dumps(answer, default=_json_default))
        return 0
    h = answer.get("health", {})
    print(f"box {answer.get('box')}: {'healthy' if h.get('healthy') else 'NOT HEALTHY'}, up {h.get('uptime_s')} s")
    for key in ("frames", "gaps", "missing_frames", "rejected", "processing_errors", "lag_s", "data_age_s",
                "cpu_pct", "rss_mb", "picks", "locations", "alarms", "relay", "relay_unacked", "journal_depth",
                "uplink_dropped", "central_age_s", "alarm_latency_ms_max", "channels"):
        print(f"  {key:22s} {h.get(key)}")
    for ev in answer.get("events", []):
        print(f"  event {ev['event']}: {ev['level']}, {ev['picks']} picks, {ev['updates']} updates, "
              f"{ev['lat']} {ev['lon']} {ev['depth_km']} km M{ev['mag']}")
    return 0


def cmd_clear(args: argparse.Namespace) -> int:
    """Operator reset of the relay controller's latched STOP."""
    try:
        answer = _control(args, "clear")
    except TimeoutError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 3
    print(json.dumps(answer, default=_json_default))
    return 0 if answer.get("sent") else 1


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m edge", description="das-eew trackside edge")
    p.add_argument("--log-level", default=None,
                   help="log level of the JSON logs on stderr (default: warning; run: the config's)")
    sub = p.add_subparsers(dest="command", required=True)
    d = sub.add_parser("detect", help="print the P-candidate picks of fiber records",
                       description="Run the detection chain over fiber records (.npz or .h5) and print "
                                   "the P candidates, one a line (JSON with --json).")
    d.add_argument("records", nargs="+", type=Path, help="fiber record files")
    d.add_argument("--json", action="store_true", help="one JSON object a line")
    d.add_argument("--config", help="edge.toml; its [detector] table is used (see edge.config)")
    d.add_argument("--frame-s", type=float, default=1.0, help="frame length fed to the chain, s")
    d.set_defaults(func=cmd_detect)

    r = sub.add_parser("replay", help="run records through the daemon's alarm path; print location and alarm messages",
                       description="Detection, location, magnitude and the gate over fiber records, exactly as the "
                                   "daemon runs them; one message a line (JSON with --json, with a 'record' key).")
    r.add_argument("records", nargs="+", type=Path)
    r.add_argument("--model", help="velocity model TOML (default: the JMA2001-like model)")
    r.add_argument("--config", help="edge.toml; its [detector], [eew] and [locator] tables are used")
    r.add_argument("--json", action="store_true")
    r.add_argument("--box", default="replay", help="box id in the messages")
    r.add_argument("--frame-s", type=float, default=1.0, help="frame length fed to the chain, s")
    r.set_defaults(func=cmd_replay)

    lo = sub.add_parser("locate", help="locate P picks from a CSV (lat, lon, elev_m, time)",
                        description="Grid-search hypocenter of P picks; time as ISO-8601 UTC or POSIX s.")
    lo.add_argument("picks", type=Path)
    lo.add_argument("--model", help="velocity model TOML")
    lo.add_argument("--json", action="store_true")
    lo.set_defaults(func=cmd_locate)

    ev = sub.add_parser("evaluate", help="the paper's evaluation table on a simulated scenario set",
                        description="Runs every event of a scenario set through the alarm path and prints the "
                                    "errors at 1, 2 and 3 s after the first P detection, magnitude, curvature and "
                                    "alarm level, then the summary (last line JSON with --json).")
    ev.add_argument("--scenarios", default="kyushu-2022", choices=["kyushu-2022", "random"])
    ev.add_argument("--seed", type=int, default=0)
    ev.add_argument("--n-events", type=int, default=100, help="random: events (default 100)")
    ev.add_argument("--limit", type=int, help="only the first N events")
    ev.add_argument("--model", help="velocity model TOML the locator uses")
    ev.add_argument("--earth-perturbation", type=float, default=None,
                    help="the simulated earth's lateral velocity perturbation (relative; default 0.05); 0 makes "
                         "the locator's 1D model exact but for channel statics: how much of a miss is model error")
    ev.add_argument("--json", action="store_true")
    ev.set_defaults(func=cmd_evaluate)

    ru = sub.add_parser("run", help="the trackside daemon",
                        description="Subscribe to the interrogator stream (or replay records), detect, locate, "
                                    "drive the relay controller and report to central, until SIGTERM. SIGHUP "
                                    "reloads the config.")
    ru.add_argument("--config", help="edge.toml (default: built-in defaults)")
    ru.add_argument("--replay", nargs="+", type=Path, metavar="RECORD", help="play fiber records instead of the stream")
    ru.add_argument("--speed", type=float, default=1.0, help="replay pacing, x real time (0: as fast as possible)")
    ru.add_argument("--frame-s", type=float, default=0.1, help="replay frame length, s")
    ru.add_argument("--linger-s", type=float, default=5.0,
                    help="after a replay, wait this long for central's acknowledgements")
    ru.set_defaults(func=cmd_run)
    for name, func, text in (("status", cmd_status, "show a running daemon's health"),
                             ("clear", cmd_clear, "operator CLEAR of the relay controller's latched STOP")):
        c = sub.add_parser(name, help=text, description=text + " (through the daemon's control socket)")
        c.add_argument("--config", help="edge.toml of the daemon (for its control endpoint)")
        c.add_argument("--endpoint", help="control endpoint (overrides the config)")
        c.add_argument("--timeout-s", type=float, default=3.0)
        if name == "status":
            c.add_argument("--json", action="store_true")
        c.set_defaults(func=func)
    return p


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
