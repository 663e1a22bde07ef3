"""A whole railway line on loopback: the Kyushu-like reach cut into segments, one interrogator
emulator and one edge daemon (optionally with its relay controller on a pseudo-terminal) per segment,
and one central node that stores, fuses and sends alerts down. Every part is a real process.

Used by ``python -m sim line-demo`` (``make demo``), ``python -m bench.line_fusion`` and the
end-to-end tests. Central is driven through its command line only (DESIGN.md: sim does not import
central).
"""
from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from collections.abc import Callable

import numpy as np

from sim.processes import Proc, free_tcp_port


@dataclass(frozen=True)
class LineSetup:
    """What runs on the line.

    segments : boxes, each over an equal share of the reach's channels.
    scenario : "kyushu-2022" or "random" (10 events around the whole route, drawn from ``seed``).
    events : the scenario's event indices, streamed one after another.
    first_event_s, event_interval_s : data seconds to the first event's origin and between events.
    speed : stream pacing, x real time.
    relays : give every box a relay controller (firmware_py) on a pseudo-terminal.
    tail_s : data streamed after the last event's slot.
    fs_hz, spacing_m : the interrogator's rate and channel spacing (the whole reach at 100 m is 975 channels).
    """

    segments: int = 3
    scenario: str = "kyushu-2022"
    events: str = "13,0,12"
    first_event_s: float = 30.0
    event_interval_s: float = 60.0
    speed: float = 1.0
    seed: int = 0
    relays: bool = False
    fs_hz: float = 100.0
    spacing_m: float = 100.0
    tail_s: float = 0.0            # data after the last event's slot (its snippet is due ~50 s after P)

    @property
    def n_events(self) -> int:
        return len(self.events.split(","))

    @property
    def duration_s(self) -> float:
        return self.first_event_s + self.event_interval_s * self.n_events + self.tail_s


class Line:
    """The processes of one line, started by :meth:`start`, streamed by :meth:`stream`, stopped by
    :meth:`stop` (or as a context manager). Logs and the store stay in ``workdir``."""

    def __init__(self, workdir: str | Path, setup: LineSetup = LineSetup()):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.setup = setup
        self.py = sys.executable
        self.collector_ep, self.downlink_ep = (f"tcp://127.0.0.1:{free_tcp_port()}" for _ in range(2))
        self.stream_eps = [f"tcp://127.0.0.1:{free_tcp_port()}" for _ in range(setup.segments)]
        self.db = self.workdir / "central.sqlite"
        self.central_config = self.workdir / "central.toml"
        self.central: Proc | None = None
        self.central_runs = 0
        self.status_url: str | None = None
        self.edges: list[Proc] = []
        self.relays: list[Proc] = []
        self.sims: list[Proc] = []
        self.boxes: list[str] = []
        self.channels: list[tuple[int, int]] = []       # (first channel, count) per segment
        self.t0: float | None = None
        self._procs: list[Proc] = []

    # --- life cycle -----------------------------------------------------------------------------
    def start(self) -> None:
        """Central, then per segment the relay controller and the edge daemon; returns when all are ready."""
        for f in (self.db, self.db.with_name(self.db.name + "-wal"), self.db.with_name(self.db.name + "-shm")):
            f.unlink(missing_ok=True)
        self.central_config.write_text(f'db = "{self.db}"\n[collector]\nendpoint = "{self.collector_ep}"\n'
                                       f'[downlink]\nendpoint = "{self.downlink_ep}"\n[status]\nport = 0\n')
        self.start_central()
        n_total = self._reach_channels()
        bounds = np.linspace(0, n_total, self.setup.segments + 1).astype(int)
        for k in range(self.setup.segments):
            first, n = int(bounds[k]), int(bounds[k + 1] - bounds[k])
            self.channels.append((first, n))
            self.boxes.append(f"seg{k}")
            self.edges.append(self._start_edge(k, first, n))
        for edge in self.edges:
            edge.wait_line(lambda d: d.get("event") == "ready", 300, stream="stderr")

    def start_central(self) -> str:
        """(Re)start ``central run`` on the same store and endpoints; returns the status page URL."""
        self.central_runs += 1
        self.central = self._spawn([self.py, "-m", "central", "run", "--config", str(self.central_config)],
                                   f"central-{self.central_runs}")
        ready = self.central.wait_line(lambda d: d.get("event") == "ready", 120, stream="stderr")
        self.status_url = ready.get("status")
        return self.status_url

    def kill_central(self) -> None:
        """SIGKILL central: a power cut, no clean shutdown."""
        if self.central is not None:
            self.central.kill()

    def stream(self, *, on_tick: Callable[[float], None] | None = None, tick_s: float = 0.2) -> None:
        """Run every segment's emulator on one data clock (close to wall time) until all have
        finished; ``on_tick`` is called with the seconds since the streams started every ``tick_s``."""
        s = self.setup
        # each emulator waits ~1 s for its subscriber before the first frame
        self.t0 = float(np.ceil(time.time())) + 2.0
        for k, (first, n) in enumerate(self.channels):
            self.sims.append(self._spawn(
                [self.py, "-m", "sim", "stream", *self._grid(first, n), "--endpoint", self.stream_eps[k],
                 "--speed", str(s.speed), "--first-event-s", str(s.first_event_s), "--event-interval-s",
                 str(s.event_interval_s), "--duration-s", str(s.duration_s), "--gap-probability", "0",
                 "--t0", str(self.t0)], f"sim{k}"))
        start = time.monotonic()
        deadline = start + s.duration_s / max(s.speed, 1e-3) + 300
        while any(p.popen.poll() is None for p in self.sims):
            if time.monotonic() > deadline:
                raise TimeoutError("the emulators did not finish")
            if on_tick is not None:
                on_tick(time.monotonic() - start)
            time.sleep(tick_s)

    def stop(self) -> None:
        """SIGTERM every process, newest first (edges journal what they have before exiting)."""
        for p in reversed(self._procs):
            p.stop()

    def __enter__(self) -> Line:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    # --- reading back ---------------------------------------------------------------------------
    def edge_events(self, k: int, kinds: tuple[str, ...] = ("location", "alarm")) -> list[dict]:
        """The JSON log lines of box ``k`` whose ``event`` is one of ``kinds``."""
        return [d for d in self.edges[k].lines("stderr") if d.get("event") in kinds]

    def central_events(self) -> list[dict]:
        """The stored events, through ``python -m central events --json``."""
        import json
        out = subprocess.run([self.py, "-m", "central", "events", "--db", str(self.db), "--json"],
                             capture_output=True, text=True, check=True).stdout
        return [json.loads(x) for x in out.splitlines() if x.strip()]

    def source_of(self, k: int):
        """The true source of the ``k``-th streamed event (a ``sim.source`` point source), with its
        origin time on the line's data clock."""
        from dataclasses import replace

        from sim.scenarios import kyushu_2022, random_events
        items = (kyushu_2022(seed=self.setup.seed) if self.setup.scenario == "kyushu-2022"
                 else random_events(n_events=10, seed=self.setup.seed))
        src = items[int(self.setup.events.split(",")[k])].sources[0]
        t = None if self.t0 is None else self.t0 + self.setup.first_event_s + k * self.setup.event_interval_s
        return src if t is None else replace(src, origin_time=t)

    # --- parts ----------------------------------------------------------------------------------
    def _spawn(self, cmd: list[str], name: str) -> Proc:
        p = Proc(cmd, self.workdir / name)
        self._procs.append(p)
        return p

    def _grid(self, first: int, n: int) -> list[str]:
        s = self.setup
        return ["--scenario", s.scenario, "--events", s.events, "--fs", f"{s.fs_hz:g}", "--spacing-m",
                f"{s.spacing_m:g}", "--first-channel", str(first), "--channels", str(n), "--seed", str(s.seed)]

    def _reach_channels(self) -> int:
        geometry = self.workdir / "reach.csv"
        subprocess.run([self.py, "-m", "sim", "stream", "--scenario", "kyushu-2022", "--fs", f"{self.setup.fs_hz:g}",
                        "--spacing-m", f"{self.setup.spacing_m:g}", "--geometry-out", str(geometry),
                        "--geometry-only"], check=True)
        with open(geometry) as f:
            return sum(1 for _ in f) - 1

    def _start_edge(self, k: int, first: int, n: int) -> Proc:
        geometry = self.workdir / f"seg{k}.csv"
        subprocess.run([self.py, "-m", "sim", "stream", *self._grid(first, n), "--geometry-out", str(geometry),
                        "--geometry-only"], check=True)
        relay = ""
        if self.setup.relays:
            r = self._spawn([self.py, "-m", "firmware_py", "--pty", "--permit-timeout-ms", "500"], f"relay{k}")
            self.relays.append(r)
            relay = r.wait_line(lambda d: "pty" in d, 20)["pty"]
        config = self.workdir / f"seg{k}.toml"
        config.write_text(f'box = "seg{k}"\nstate_dir = "{self.workdir / f"state{k}"}"\nlog_level = "info"\n'
                          f'[stream]\nendpoint = "{self.stream_eps[k]}"\ngeometry = "{geometry}"\n'
                          f'fs_hz = {self.setup.fs_hz}\nch0 = {first}\ntimeout_s = 3.0\n'
                          f'[relay]\nport = "{relay}"\n'
                          f'[uplink]\nendpoint = "{self.collector_ep}"\nalerts = "{self.downlink_ep}"\n'
                          f'heartbeat_s = 1.0\n')
        return self._spawn([self.py, "-m", "edge", "run", "--config", str(config)], f"edge{k}")

    def control_endpoint(self, k: int) -> str:
        """Box ``k``'s control socket (``python -m edge status|clear``)."""
        return f"ipc://{(self.workdir / f'state{k}' / 'control.sock').resolve()}"
