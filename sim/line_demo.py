"""The whole line live on loopback, narrated: ``python -m sim line-demo`` (the second half of ``make demo``).

Three trackside boxes (emulator, edge daemon, relay controller on a pseudo-terminal each) over three
segments of the Kyushu-like reach, and one central node that stores, fuses and sends alerts down.
Prints what each part did, in order, with wall-clock seconds since the start, then central's events
and the status page.
"""
from __future__ import annotations

import subprocess
import time
from pathlib import Path

from edge.control import request
from sim.line import Line, LineSetup

# kyushu-2022 #13: M4.0 under the middle segment, warrants a stop there; #23: M4.8, 8 km from the
# last segment and 40 km from the first, which central's alert reaches before its own P waves do
EVENTS = "13,23"


def run(out: Path, *, speed: float = 2.0, seed: int = 0) -> int:
    """Run the line once; return 0 when central fused at least one event from several boxes."""
    start = time.monotonic()

    def say(text: str) -> None:
        print(f"[{time.monotonic() - start:6.1f} s] {text}", flush=True)

    setup = LineSetup(segments=3, events=EVENTS, first_event_s=20.0, event_interval_s=40.0, speed=speed,
                      seed=seed, relays=True, tail_s=30.0)   # the tail: the last event's snippets are due
    with Line(out, setup) as line:
        line.start()
        say(f"central on {line.collector_ep} (alerts on {line.downlink_ep}), store {line.db}")
        say(f"status page: {line.status_url}  (open it now: it lives while the demo runs)")
        for k, (first, n) in enumerate(line.channels):
            say(f"box {line.boxes[k]}: channels {first}-{first + n - 1} at {setup.fs_hz:g} Hz, edge ready, relay "
                f"controller on a pseudo-terminal (STOP until an operator CLEAR)")
        shown = [0] * len(line.boxes)
        relay_seen = [0] * len(line.boxes)
        central_seen = [0]
        cleared = [False] * len(line.boxes)

        def tick(elapsed: float) -> None:
            for k, box in enumerate(line.boxes):
                if not cleared[k]:
                    if line.relays[k].find(lambda d: d.get("relay") == "clear"):
                        cleared[k] = True
                        say(f"{box}: operator CLEAR (`python -m edge clear`): relay LINE CLEAR while PERMITs flow")
                    else:
                        request(line.control_endpoint(k), "clear", timeout_s=2)
                lines = line.edge_events(k)
                for d in lines[shown[k]:]:
                    if d["event"] == "location":
                        say(f"{box}: location #{d['update']} {d['lat']:.3f}N {d['lon']:.3f}E {d['depth_km']:.1f} km "
                            + ("M?" if d["mag"] is None else f"M{d['mag']:.1f}"))
                    else:
                        source = "central's alert" if str(d["event_id"]).startswith("central-") else "own"
                        say(f"{box}: ALARM {d['alarm_level'].upper()} ({source}: {d['reason'][:90]})")
                shown[k] = len(lines)
                relay = [d for d in line.relays[k].lines() if "relay" in d]
                for d in relay[relay_seen[k]:]:
                    if cleared[k] and d["relay"] == "stop":
                        say(f"{box}: relay controller output STOP ({d.get('reason')})")
                relay_seen[k] = len(relay)
            news = [d for d in line.central.lines("stderr") if d.get("event") in ("fused", "alert_published")]
            for d in news[central_seen[0]:]:
                if d["event"] == "fused":
                    say(f"central: fused event {d['event_id']} from {d['boxes']} boxes, {d['n_picks']} picks")
                else:
                    say(f"central: alert {d['event_id']} sent down: {d.get('levels')}")
            central_seen[0] = len(news)

        say(f"three emulators stream {sum(n for _, n in line.channels)} channels on one data clock, "
            f"{speed:g}x real time; events at +20 s and +60 s of data")
        line.stream(on_tick=tick)
        time.sleep(3.0)
        tick(0.0)
        stops = [box for k, box in enumerate(line.boxes) if _stopped_by_alarm(line.relays[k].lines())]
    listing = subprocess.run([line.py, "-m", "central", "events", "--db", str(line.db)], capture_output=True,
                             text=True, check=False)
    for row in listing.stdout.splitlines():
        say(f"central event {row.strip()}")
    events = line.central_events()
    for k in range(setup.n_events):
        src = line.source_of(k)
        match = [e for e in events if e.get("origin_time") is not None and abs(e["origin_time"] - src.origin_time) < 10]
        found = ", ".join(f"central event {e['id']} {_km(e, src):.1f} km off, boxes {' '.join(e['boxes'])}"
                          f"{_class_text(e)}" for e in match) or "not in the store"
        say(f"truth: event {k} M{src.magnitude:.1f} at {src.lat:.3f}N {src.lon:.3f}E {src.depth_km:.0f} km: {found}")
    say(f"the store stays: `python -m central events --db {line.db}`; browse it again with "
        f"`python -m central run --config {line.central_config}` (the status URL is in its ready line)")
    fused = [e for e in events if len(e.get("boxes") or []) >= 2]
    ok = len(fused) >= 1
    say(f"result: {len(events)} events stored, {len(fused)} fused from several boxes; relays stopped by an alarm "
        f"at: {', '.join(stops) or 'none'}" + ("" if ok else " (NOT as expected: nothing fused)"))
    return 0 if ok else 1


def _class_text(event: dict) -> str:
    c = event.get("classification")
    if not c:
        return ", not classified"
    best = max(("earthquake", "collapse", "explosion"), key=lambda k: c.get(k, 0.0))
    return f", classified {best} ({c[best]:.2f}, {c.get('n_measurements')} measurements)"


def _km(event: dict, src) -> float:
    from edge.geodesy import epicentral_km
    return float(epicentral_km(event["lat"], event["lon"], src.lat, src.lon))


def _stopped_by_alarm(relay_lines: list[dict]) -> bool:
    """Whether the relay output went to STOP on an ALARM (not at power-on, nor for the PERMIT timeout
    every box shows when its stream ends)."""
    return any(d.get("relay") == "stop" and d.get("reason") == "alarm" for d in relay_lines)
