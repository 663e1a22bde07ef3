"""Command line of the simulator: ``python -m sim {scenario,stream,plot,demo} --help``."""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from edge.exceptions import DasEewError
from sim.route import read_route_csv


def _add_grid_args(p: argparse.ArgumentParser, *, fs: float, spacing: float) -> None:
    p.add_argument("--seed", type=int, default=0, help="master random seed (default 0)")
    p.add_argument("--fs", type=float, default=fs, help=f"sampling rate, Hz (default {fs:g})")
    p.add_argument("--spacing-m", type=float, default=spacing,
                   help=f"channel spacing along the fiber, m (default {spacing:g})")
    p.add_argument("--gauge-m", type=float, default=10.0, help="gauge length, m (default 10)")
    p.add_argument("--decimation", type=int, default=1, help="keep every n-th channel (default 1)")


def _items(args: argparse.Namespace):
    from sim.scenarios import scenario
    kw = dict(seed=args.seed, fs_hz=args.fs, spacing_m=args.spacing_m, gauge_m=args.gauge_m)
    if args.name == "kyushu-2022":
        kw["decimation"] = args.decimation
    elif args.name == "random":
        kw["n_events"] = args.n_events
        if args.route_csv:
            kw["route"] = read_route_csv(args.route_csv)
    elif args.name == "noise":
        kw["hours"] = args.hours
    return scenario(args.name, **kw)


def cmd_scenario(args: argparse.Namespace) -> int:
    """Write one fiber record per event plus a truth JSON, and an index of the set."""
    if args.full_rate:
        args.fs, args.spacing_m = 1000.0, 10.0
    items = _items(args)
    if args.limit is not None:
        items = items[: args.limit]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    index = []
    for k, item in enumerate(items):
        t = time.perf_counter()
        scene = item.scene()
        rec_path = scene.write(out / f"{item.name}.npz")
        truth = scene.truth()
        (out / f"{item.name}.truth.json").write_text(json.dumps(truth))
        row = {"record": rec_path.name, "truth": f"{item.name}.truth.json", "n_channels": item.layout.n_channels,
               "fs": item.fs_hz, "duration_s": item.duration_s,
               "events": [{k2: ev[k2] for k2 in ("origin_time", "lat", "lon", "depth_km", "magnitude", "kind",
                                                  "epicentral_km_min")} for ev in truth["events"]],
               "trains": sum(ld["kind"] == "train" for ld in truth["loads"]),
               "seconds": round(time.perf_counter() - t, 2)}
        index.append(row)
        print(json.dumps(row), flush=True)
    (out / "index.json").write_text(json.dumps({"scenario": args.name, "seed": args.seed, "records": index},
                                               indent=1))
    return 0


def stream_scene_for(args: argparse.Namespace):
    """A continuous scene for the emulator: the scenario's events one after another."""
    from dataclasses import replace

    from edge.exceptions import ConfigError
    from sim.scenarios import kyushu_2022, kyushu_reach, random_events, road_traffic, train_schedule
    from sim.scene import Scene
    if args.scenario not in ("kyushu-2022", "random", "noise"):
        raise ConfigError(f"unknown scenario {args.scenario!r}; choose kyushu-2022, random or noise")
    first = getattr(args, "first_channel", 0)
    layout = kyushu_reach(spacing_m=args.spacing_m, gauge_m=args.gauge_m, first_channel=first,
                          last_channel=None if args.channels is None else first + args.channels - 1)
    rng = np.random.default_rng([args.seed, 55])
    t0 = float(np.floor(time.time())) if args.t0 is None else args.t0
    sources = []
    if args.scenario != "noise":
        base = (kyushu_2022(seed=args.seed) if args.scenario == "kyushu-2022"
                else random_events(n_events=10, seed=args.seed))
        if args.events:
            try:
                base = [base[int(i)] for i in args.events.split(",")]
            except (ValueError, IndexError):
                raise ConfigError(f"--events takes indices 0..{len(base) - 1} of the scenario, "
                                  f"comma-separated; got {args.events!r}") from None
        for k, item in enumerate(base):
            src = item.sources[0]
            shift = t0 + args.first_event_s + k * args.event_interval_s - src.origin_time
            sources.append(replace(src, origin_time=src.origin_time + shift))
    horizon = args.duration_s if args.duration_s else 3600.0
    loads = train_schedule(rng, layout, t0, horizon) + road_traffic(rng, layout, t0, horizon)
    return Scene(layout=layout, t0=t0, duration_s=args.duration_s, fs_hz=args.fs, sources=sources,
                 loads=loads, seed=args.seed)


def cmd_stream(args: argparse.Namespace) -> int:
    """Publish a scenario as the interrogator stream."""
    import zmq
    from sim.emulator import StreamConfig, stream_scene
    cfg = StreamConfig(frame_s=args.frame_s, speed=args.speed, dtype=args.dtype,
                       gap_probability=args.gap_probability)
    scene = stream_scene_for(args)
    if args.geometry_out:
        from edge.channels import write_geometry_csv
        write_geometry_csv(args.geometry_out, scene.layout.lat, scene.layout.lon, scene.layout.elev_m)
        if args.geometry_only:
            return 0
    ctx = zmq.Context.instance()
    sock = ctx.socket(zmq.PUB)
    sock.setsockopt(zmq.LINGER, 1000)
    sock.setsockopt(zmq.SNDHWM, 1000)
    sock.bind(args.endpoint)
    print(json.dumps({"event": "stream_start", "endpoint": args.endpoint, "n_channels": scene.layout.n_channels,
                      "fs": scene.fs_hz, "speed": args.speed, "t0": scene.t0}), flush=True)
    time.sleep(args.warmup_s)   # let subscribers connect: PUB drops messages for late joiners
    try:
        stats = stream_scene(scene, sock, cfg, max_frames=args.max_frames, seed=args.seed)
    except KeyboardInterrupt:
        return 0
    finally:
        sock.close()
    print(json.dumps({"event": "stream_end", "frames_sent": stats.frames_sent,
                      "frames_dropped": stats.frames_dropped, "samples_sent": stats.samples_sent,
                      "wall_s": round(stats.wall_s, 3), "max_lag_s": round(stats.max_lag_s, 3)}), flush=True)
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    """Draw a record section with the true arrivals."""
    from sim.plot import plot_record
    path = plot_record(args.record, args.out)
    print(json.dumps({"plot": str(path)}))
    return 0


def _demo_edge(rec_path: Path, src) -> None:
    """Replay the record through the edge's alarm path and print what it said, against the truth."""
    from edge.eew import EewProcessor
    from edge.geodesy import epicentral_km
    from edge.location import Locator
    from edge.record import iter_record_chunks
    from edge.replay import detector_for_record, run_chunks
    det, header = detector_for_record(rec_path)
    msgs: list[dict] = []
    EewProcessor(det, lat=header.lat, lon=header.lon, elev_m=header.elev_m, locator=Locator(), emit=msgs.append,
                 box="demo")
    t = time.perf_counter()
    run_chunks(det, iter_record_chunks(rec_path, int(header.fs)), t0=header.t0, fs_hz=header.fs)
    print(f"edge replay ({time.perf_counter() - t:.1f} s; {det.stats()['accepted']} P candidates, "
          f"{det.stats()['rejected']} picks rejected by the moveout test):")
    shown = 0
    for m in msgs:
        if m["type"] == "location" and (m["update"] <= 2 or m["since_first_pick_s"] <= 2.0 or m is msgs[-1]):
            err = float(epicentral_km(src.lat, src.lon, m["lat"], m["lon"]))
            mag = f"M{m['mag']:.1f}" if m["mag"] is not None else "M?"
            print(f"  +{m['since_first_pick_s']:.2f} s  location #{m['update']}: {m['lat']:.3f}N {m['lon']:.3f}E "
                  f"{m['depth_km']:.1f} km, {mag}, {m['n_picks']} picks -> {err:.1f} km from the truth")
            shown += 1
        elif m["type"] == "alarm":
            print(f"  +{m['since_first_pick_s']:.2f} s  ALARM {m['level'].upper()}: {m['reason']}")
    if not msgs:
        print("  no location or alarm")


def cmd_demo(args: argparse.Namespace) -> int:
    """Generate one kyushu-2022 event, print its summary and draw it."""
    from sim.scenarios import kyushu_2022
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    items = kyushu_2022(seed=args.seed)
    item = next(i for i in items if "near" in i.name and i.sources[0].magnitude >= 3.5)
    t = time.perf_counter()
    scene = item.scene()
    rec_path = scene.write(out / f"{item.name}.npz")
    (out / f"{item.name}.truth.json").write_text(json.dumps(scene.truth()))
    src = item.sources[0]
    wf = scene.wavefields[0]
    first = int(np.argmin(wf.p.time))
    print(f"scenario kyushu-2022 (seed {args.seed}): {len(items)} events on the Kurume-Shin-Yatsushiro reach, "
          f"{item.layout.n_channels} channels every {item.layout.spacing_m:g} m at {item.fs_hz:g} Hz")
    print(f"event {item.name}: M{src.magnitude:.1f} {src.kind} at {src.lat:.3f}N {src.lon:.3f}E, "
          f"{src.depth_km:.1f} km deep, {wf.distance_km.min():.1f} km from the fiber")
    print(f"  first true P on channel {first} at {wf.p.time[first] - src.origin_time:.2f} s after origin; "
          f"S {wf.s.time[first] - src.origin_time:.2f} s")
    counts = {k: int(np.sum(scene.fiber_noise.state == v)) for k, v in
              {"dead": 1, "noisy": 2, "clipped": 3}.items()}
    trains = sum(ld.kind == "train" for ld in item.loads)
    print(f"  {trains} trains and {len(item.loads) - trains} road vehicles in the record; unhealthy channels {counts}")
    print(f"  wrote {rec_path} ({rec_path.stat().st_size / 1e6:.1f} MB) in {time.perf_counter() - t:.1f} s")
    _demo_edge(rec_path, src)
    try:
        from sim.plot import plot_record
        png = plot_record(rec_path, out / f"{item.name}.png")
        print(f"  record section with true arrivals: {png}")
    except ImportError as exc:
        print(f"  (no plot: {exc})")
    return 0


def cmd_live_demo(args: argparse.Namespace) -> int:
    """The trackside chain live: emulator -> edge daemon -> relay controller, and central's collector."""
    from sim.live_demo import run
    return run(Path(args.out), speed=args.speed, seed=args.seed)


def cmd_line_demo(args: argparse.Namespace) -> int:
    """The whole line: three boxes (emulator, edge, relay controller) and central, live on loopback."""
    from sim.line_demo import run
    return run(Path(args.out), speed=args.speed, seed=args.seed)


def cmd_classes(args: argparse.Namespace) -> int:
    """Write a labelled three-class measurement set (seismometer.npz, das.npz, events.json)."""
    from sim.event_classes import ClassSetConfig, generate
    mix = tuple(int(x) for x in args.mix.split(","))
    if len(mix) != 3:
        raise DasEewError(f"--mix takes three comma-separated counts (earthquake,collapse,explosion), got {args.mix!r}")
    cfg = ClassSetConfig(n_events=args.n_events, mix=mix, seed=args.seed, sites_seed=args.sites_seed,
                         label_noise=args.label_noise, stations_per_event=args.stations,
                         das_channels=args.das_channels)
    t = time.perf_counter()
    summary = generate(cfg, args.out, workers=args.workers)
    summary.pop("config")
    print(json.dumps({**summary, "seconds": round(time.perf_counter() - t, 1), "out": args.out}))
    return 0


def cmd_calibrate_magnitude(args: argparse.Namespace) -> int:
    """Fit the edge's magnitude relation on simulated earthquakes and print (or write) its TOML."""
    from sim.calibration import calibrate
    fit = calibrate(n_events=args.events, seed=args.seed)
    command = f"python -m sim calibrate-magnitude --events {args.events} --seed {args.seed}"
    text = fit.to_toml(command)
    print(json.dumps({"a": round(fit.a, 4), "b": round(fit.b, 4), "c": round(fit.c, 4),
                      "sigma_m": round(fit.sigma_m, 3), "channels": fit.n_channels, "events": fit.n_events,
                      "median_shift": round(fit.median_shift, 3), "event_mae": round(fit.event_mae, 3)}))
    if args.write:
        Path(args.write).write_text(text)
    else:
        print(text, end="")
    return 0


def cmd_catalog(args: argparse.Namespace) -> int:
    """Write a synthetic ETAS catalog with its region grid and maps (the SafeNet dataset directory)."""
    from sim.catalogs import write_synthetic_dataset
    res = write_synthetic_dataset(args.out, seed=args.seed, region_seed=args.region_seed, years=args.years,
                                  start_year=args.start_year, burn_in_years=args.burn_in)
    print(json.dumps({"events": res.n_events, "branching_ratio": round(res.branching_ratio, 4),
                      **{f"share_{k}": round(v, 4) for k, v in res.shares.items()},
                      "seconds": round(res.seconds, 1), "out": str(res.out)}))
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m sim``."""
    parser = argparse.ArgumentParser(prog="python -m sim", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("scenario", help="write a scenario set: one fiber record + truth JSON per event")
    p.add_argument("name", help="kyushu-2022, random or noise")
    p.add_argument("--out", required=True, help="output directory")
    _add_grid_args(p, fs=100.0, spacing=100.0)
    p.add_argument("--full-rate", action="store_true", help="interrogator rate: 1 kHz, 10 m channels")
    p.add_argument("--n-events", type=int, default=10, help="random: number of events (default 10)")
    p.add_argument("--route-csv", help="random: route vertices CSV (lat,lon[,elev_m]); default Kyushu")
    p.add_argument("--hours", type=float, default=1.0, help="noise: hours of data (default 1)")
    p.add_argument("--limit", type=int, help="write only the first N records")
    p.set_defaults(func=cmd_scenario)

    p = sub.add_parser("stream", help="publish the interrogator stream over ZeroMQ")
    p.add_argument("--scenario", required=True, help="kyushu-2022, random or noise")
    p.add_argument("--endpoint", default="tcp://127.0.0.1:5555", help="PUB bind address")
    p.add_argument("--speed", type=float, default=1.0, help="pacing, x real time (0: as fast as possible)")
    _add_grid_args(p, fs=1000.0, spacing=10.0)
    p.add_argument("--channels", type=int, help="number of channels (default: the whole ~95 km reach)")
    p.add_argument("--first-channel", type=int, default=0,
                   help="stream the reach from this channel on (one interrogator per segment of a line: "
                        "frames carry it as ch0, the edge's [stream] ch0)")
    p.add_argument("--frame-s", type=float, default=0.1, help="frame length, s (default 0.1)")
    p.add_argument("--dtype", default="<f4", choices=["<f4", "<i2"], help="payload sample type")
    p.add_argument("--gap-probability", type=float, default=1e-4, help="chance a frame is lost (GPS gap)")
    p.add_argument("--duration-s", type=float, help="stop after this much data (default: endless)")
    p.add_argument("--max-frames", type=int, help="stop after this many frames")
    p.add_argument("--t0", type=float, help="data time of the first sample (default: now)")
    p.add_argument("--first-event-s", type=float, default=30.0, help="first event this long after t0")
    p.add_argument("--event-interval-s", type=float, default=180.0, help="time between events")
    p.add_argument("--warmup-s", type=float, default=0.5, help="wait for subscribers before sending")
    p.add_argument("--events", help="only these events of the scenario, by index (e.g. 13 or 0,13)")
    p.add_argument("--geometry-out", help="write the channel coordinates (the edge's [stream] geometry) to this CSV")
    p.add_argument("--geometry-only", action="store_true", help="write --geometry-out and exit without streaming")
    p.set_defaults(func=cmd_stream)

    p = sub.add_parser("plot", help="record section with true arrivals (PNG)")
    p.add_argument("record")
    p.add_argument("--out", required=True, help="PNG file to write")
    p.set_defaults(func=cmd_plot)

    p = sub.add_parser("live-demo", help="emulator -> edge daemon -> relay controller -> central, live on loopback")
    p.add_argument("--out", default="demo-out/live", help="working directory (configs, logs, received messages)")
    p.add_argument("--speed", type=float, default=2.0, help="stream pacing, x real time (default 2)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_live_demo)

    p = sub.add_parser("line-demo", help="three boxes and central, the whole line live on loopback")
    p.add_argument("--out", default="demo-out/line", help="working directory (configs, logs, the store)")
    p.add_argument("--speed", type=float, default=2.0, help="stream pacing, x real time (default 2)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_line_demo)

    p = sub.add_parser("classes", help="labelled earthquakes, mine collapses and explosions for the classifier")
    p.add_argument("--out", required=True, help="output directory (seismometer.npz, das.npz, events.json)")
    p.add_argument("--n-events", type=int, default=1780, help="events in all (default 1780, the paper's)")
    p.add_argument("--mix", default="1035,159,586", help="earthquake,collapse,explosion proportions (the paper's)")
    p.add_argument("--seed", type=int, default=0, help="event seed (a test set uses another)")
    p.add_argument("--sites-seed", type=int, default=0, help="quarry and mine positions (a test set uses another)")
    p.add_argument("--label-noise", type=float, default=0.05, help="fraction of events with a wrong label")
    p.add_argument("--stations", type=int, default=10, help="nearest seismometers recording each event")
    p.add_argument("--das-channels", type=int, default=10, help="DAS channels (1 km apart) per event, 0 for none")
    p.add_argument("--workers", type=int, default=1, help="processes (default 1)")
    p.set_defaults(func=cmd_classes)

    p = sub.add_parser("calibrate-magnitude", help="fit the edge's DAS magnitude relation on simulated events")
    p.add_argument("--events", type=int, default=60, help="random earthquakes to simulate (default 60)")
    p.add_argument("--seed", type=int, default=11)
    p.add_argument("--write", help="write the TOML here (e.g. edge/data/magnitude.toml)")
    p.set_defaults(func=cmd_calibrate_magnitude)

    p = sub.add_parser("catalog", help="synthetic ETAS catalog, region grid and maps for the yearly forecast")
    p.add_argument("--out", required=True, help="output directory (catalog.csv, grid.json, maps.npz, truth.json)")
    p.add_argument("--seed", type=int, default=0, help="catalog seed (default 0)")
    p.add_argument("--region-seed", type=int, default=0, help="faults, geology and background rate (default 0)")
    p.add_argument("--years", type=int, default=60, help="years of catalog (default 60)")
    p.add_argument("--start-year", type=int, default=1960, help="first calendar year (default 1960)")
    p.add_argument("--burn-in", type=float, default=100.0,
                   help="years simulated before the start and dropped, so the rate is stationary (default 100)")
    p.set_defaults(func=cmd_catalog)

    p = sub.add_parser("demo", help="generate one kyushu-2022 event, summarise and plot it")
    p.add_argument("--out", default="demo-out", help="output directory (default demo-out)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status (2 with a one-line message on bad input)."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (DasEewError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
