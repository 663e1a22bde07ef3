"""The unit files in systemd/: systemd's own checkers, and the directives they must keep.

``systemd-analyze verify`` exits 0 on many mistakes (an unknown key, an unparsable value: "ignoring"),
so any output at all is a failure. The units name the installed interpreter
(/opt/das-eew/.venv/bin/python), which verify insists exists; the tests stage copies in a tmp dir
with that one path replaced by this test's interpreter, and nothing else changed.
"""
from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
UNIT_DIR = REPO / "systemd"
SERVICES = ("das-edge.service", "das-central.service", "das-forecast.service")
TIMER = "das-forecast.timer"
INSTALLED_PYTHON = "/opt/das-eew/.venv/bin/python"
SYSTEMD_ANALYZE = shutil.which("systemd-analyze")

# Overall exposure of `systemd-analyze security --offline=true` in its own integer unit (tenths of
# the printed level). Measured with systemd 252: edge 16 (1.6 OK), central 12 (1.2 OK), forecast 3
# (0.3 SAFE). The thresholds leave room for other systemd versions' weights and still catch the
# heavy losses (an empty CapabilityBoundingSet, the syscall filter or RestrictNamespaces dropped:
# +0.7 to +2.0); most single lines weigh 0.1-0.2 and are held by TestDirectives instead.
EXPOSURE_THRESHOLD = {"das-edge.service": 20, "das-central.service": 15, "das-forecast.service": 5}

needs_analyze = pytest.mark.skipif(SYSTEMD_ANALYZE is None,
                                   reason="systemd-analyze is not installed (it comes with systemd)")


# --- helpers ----------------------------------------------------------------------------------------
def parse_unit(path: Path) -> dict[str, list[tuple[str, str]]]:
    """Sections of a unit file as ordered (key, value) lists (keys may repeat, as in systemd)."""
    sections: dict[str, list[tuple[str, str]]] = {}
    current = None
    pending = ""
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = pending + raw.strip()
        pending = ""
        if not line or line[0] in "#;":
            continue
        if line.endswith("\\"):                      # continuation line
            pending = line[:-1] + " "
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], [])
            continue
        assert current is not None, f"{path.name}: assignment outside a section: {line!r}"
        key, sep, value = line.partition("=")
        assert sep, f"{path.name}: not an assignment: {line!r}"
        current.append((key.strip(), value.strip()))
    return sections


def values(unit: dict, section: str, key: str) -> list[str]:
    """Every assignment of ``key`` in ``section``, in order."""
    return [v for k, v in unit.get(section, []) if k == key]


def value(unit: dict, section: str, key: str) -> str | None:
    """The assignment of ``key`` that wins (the last), or None. Booleans read as "yes"/"no"."""
    found = values(unit, section, key)
    if not found:
        return None
    return {"true": "yes", "on": "yes", "false": "no", "off": "no"}.get(found[-1], found[-1])


def seconds(span: str) -> float:
    """A systemd time span ("10s", "5min", "1h 30min", "15") in seconds."""
    factor = {"us": 1e-6, "ms": 1e-3, "": 1.0, "s": 1.0, "sec": 1.0, "min": 60.0, "m": 60.0,
              "h": 3600.0, "hr": 3600.0, "d": 86400.0}
    parts = re.findall(r"(\d+(?:\.\d+)?)\s*([a-z]*)", span)
    assert parts and "".join(n + u for n, u in parts) == span.replace(" ", ""), f"bad time span {span!r}"
    return sum(float(n) * factor[u] for n, u in parts)


def unit(name: str) -> dict[str, list[tuple[str, str]]]:
    return parse_unit(UNIT_DIR / name)


def run_analyze(*args: str | Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "SYSTEMD_COLORS": "0", "SYSTEMD_PAGER": "", "SYSTEMD_LOG_COLOR": "0"}
    return subprocess.run([SYSTEMD_ANALYZE, *map(str, args)], check=False, capture_output=True, text=True, env=env,
                          timeout=60)


def analyze_version() -> int:
    out = run_analyze("--version").stdout
    match = re.match(r"systemd (\d+)", out)
    return int(match.group(1)) if match else 0


@pytest.fixture
def staged(tmp_path) -> Path:
    """Copies of every unit in a tmp dir, the installed interpreter path replaced by sys.executable."""
    python = sys.executable
    if not re.fullmatch(r"[A-Za-z0-9/._+-]+", python):
        pytest.skip(f"interpreter path {python!r} would need quoting in a unit file")
    for name in (*SERVICES, TIMER):
        text = (UNIT_DIR / name).read_text(encoding="utf-8")
        if name.endswith(".service"):
            assert INSTALLED_PYTHON in text, f"{name} no longer runs {INSTALLED_PYTHON}"
        (tmp_path / name).write_text(text.replace(INSTALLED_PYTHON, python), encoding="utf-8")
    return tmp_path


# --- systemd's checkers -----------------------------------------------------------------------------
@needs_analyze
class TestVerify:
    @pytest.mark.parametrize("name", SERVICES)
    def test_service_verifies_silently(self, staged, name):
        """`systemd-analyze verify` has nothing at all to say about the service."""
        result = run_analyze("verify", staged / name)
        assert (result.returncode, result.stdout + result.stderr) == (0, "")

    def test_timer_verifies_with_its_service(self, staged):
        """The timer and the service it starts verify together without a word."""
        result = run_analyze("verify", staged / TIMER, staged / "das-forecast.service")
        assert (result.returncode, result.stdout + result.stderr) == (0, "")

    def test_verify_is_not_blind(self, staged):
        """The check catches what it is here for: a misspelt key is reported (verify still exits 0)
        and so is an interpreter that is not installed."""
        text = (staged / "das-edge.service").read_text()
        (staged / "das-edge.service").write_text(text.replace("NoNewPrivileges=", "NoNewPrivilege="))
        result = run_analyze("verify", staged / "das-edge.service")
        assert "NoNewPrivilege" in result.stdout + result.stderr
        if not Path(INSTALLED_PYTHON).exists():
            shutil.copy(UNIT_DIR / "das-central.service", staged / "das-central.service")
            result = run_analyze("verify", staged / "das-central.service")
            assert INSTALLED_PYTHON in result.stdout + result.stderr


@needs_analyze
class TestSecurity:
    @pytest.mark.parametrize("name", SERVICES)
    def test_exposure_below_threshold(self, staged, name):
        """`systemd-analyze security --offline=true` rates the service within its threshold."""
        if analyze_version() < 250:
            pytest.skip("systemd-analyze security --offline needs systemd >= 250")
        threshold = EXPOSURE_THRESHOLD[name]
        result = run_analyze("security", "--offline=true", f"--threshold={threshold}", "--no-pager", staged / name)
        level = re.search(r"Overall exposure level for \S+: (\d+\.\d)", result.stdout)
        assert level, result.stdout + result.stderr
        assert result.returncode == 0, (f"{name}: exposure {level.group(1)} is above {threshold / 10:.1f}\n"
                                        + "\n".join(line for line in result.stdout.splitlines() if "✗" in line))


# --- the directives the units must keep ------------------------------------------------------------
class TestDirectives:
    @pytest.mark.parametrize("name", (*SERVICES, TIMER))
    def test_parses(self, name):
        """Every unit has its sections and a description."""
        u = unit(name)
        assert value(u, "Unit", "Description")
        kind = name.rsplit(".", 1)[1]
        assert kind.capitalize() in u

    @pytest.mark.parametrize("name", SERVICES)
    def test_no_write_execute_ban(self, name):
        """MemoryDenyWriteExecute stays out (Numba compiles at run time) and the unit says why."""
        assert value(unit(name), "Service", "MemoryDenyWriteExecute") is None
        comments = [line for line in (UNIT_DIR / name).read_text().splitlines() if line.startswith("#")]
        assert any("MemoryDenyWriteExecute" in line and "absent" in line for line in comments)
        assert any("Numba" in line for line in comments)

    @pytest.mark.parametrize("name", SERVICES)
    def test_common_hardening(self, name):
        """Each service runs as its own user, without privileges, on a read-only system."""
        s = unit(name)
        expected = {"NoNewPrivileges": "yes", "ProtectSystem": "strict", "PrivateTmp": "yes", "ProtectHome": "yes",
                    "CapabilityBoundingSet": "", "ProtectKernelTunables": "yes", "ProtectKernelModules": "yes",
                    "ProtectControlGroups": "yes", "RestrictSUIDSGID": "yes", "LockPersonality": "yes",
                    "SystemCallArchitectures": "native", "DevicePolicy": "closed", "UMask": "0077",
                    "ConfigurationDirectory": "das-eew"}
        assert {k: value(s, "Service", k) for k in expected} == expected
        assert value(s, "Service", "User") not in (None, "root")
        assert values(s, "Service", "SystemCallFilter")[:1] == ["@system-service"]
        # @resources must stay allowed (libzmq aborts when pthread_setschedparam fails).
        assert not any("@resources" in v and v.startswith("~") for v in values(s, "Service", "SystemCallFilter"))
        assert value(s, "Service", "SystemCallErrorNumber") == "EPERM"

    def test_edge(self):
        """The edge: notify + watchdog, restart with limits, its user, the serial port and only it."""
        s = unit("das-edge.service")
        assert value(s, "Service", "ExecStart") == f"{INSTALLED_PYTHON} -m edge run --config /etc/das-eew/edge.toml"
        assert value(s, "Service", "Type") == "notify"
        assert value(s, "Service", "NotifyAccess") == "main"
        assert 2.0 <= seconds(value(s, "Service", "WatchdogSec")) <= 60.0
        assert value(s, "Service", "Restart") == "on-failure"
        assert seconds(value(s, "Unit", "StartLimitIntervalSec")) > 0
        assert int(value(s, "Unit", "StartLimitBurst")) >= 2
        assert (value(s, "Service", "User"), value(s, "Service", "Group")) == ("das-edge", "das-edge")
        assert "dialout" in value(s, "Service", "SupplementaryGroups").split()
        assert value(s, "Service", "DevicePolicy") == "closed"
        assert values(s, "Service", "DeviceAllow") == ["/dev/ttyUSB0 rw"]
        assert value(s, "Service", "PrivateDevices") in (None, "no")      # it would hide the serial port
        assert value(s, "Service", "StateDirectory") == "das-edge"
        assert value(s, "Service", "CacheDirectory") == "das-edge"
        assert "NUMBA_CACHE_DIR=%C/das-edge" in values(s, "Service", "Environment")
        assert value(s, "Service", "ExecReload") == "/bin/kill -HUP $MAINPID"
        assert value(s, "Service", "KillSignal") == "SIGTERM"
        assert seconds(value(s, "Service", "TimeoutStopSec")) > 0
        assert set(value(s, "Service", "RestrictAddressFamilies").split()) == {"AF_UNIX", "AF_INET", "AF_INET6"}
        assert value(s, "Service", "PrivateNetwork") in (None, "no")
        assert value(s, "Install", "WantedBy") == "multi-user.target"

    def test_edge_watchdog_outlasts_two_heartbeats(self):
        """The daemon pings once a heartbeat: WatchdogSec must allow two (one may be late)."""
        from edge.config import UplinkSettings
        watchdog_s = seconds(value(unit("das-edge.service"), "Service", "WatchdogSec"))
        assert watchdog_s >= 2 * UplinkSettings().heartbeat_s

    def test_central(self):
        """Central: notify, restart with limits, its own user and store, no device at all."""
        s = unit("das-central.service")
        command = f"{INSTALLED_PYTHON} -m central run --config /etc/das-eew/central.toml"
        assert value(s, "Service", "ExecStart") == command
        assert value(s, "Service", "Type") == "notify"
        assert value(s, "Service", "WatchdogSec") is not None
        assert value(s, "Service", "Restart") == "on-failure"
        assert value(s, "Unit", "StartLimitIntervalSec") and value(s, "Unit", "StartLimitBurst")
        assert (value(s, "Service", "User"), value(s, "Service", "StateDirectory")) == ("das-central", "das-central")
        assert value(s, "Service", "PrivateDevices") == "yes"
        assert values(s, "Service", "DeviceAllow") == []
        assert value(s, "Service", "SupplementaryGroups") is None

    def test_forecast(self):
        """The forecast: a oneshot as central's user on central's store, no network, started by its timer."""
        s = unit("das-forecast.service")
        assert value(s, "Service", "Type") == "oneshot"
        assert (value(s, "Service", "User"), value(s, "Service", "StateDirectory")) == ("das-central", "das-central")
        assert value(s, "Service", "PrivateNetwork") == "yes"
        assert value(s, "Service", "TimeoutStartSec") is not None      # a oneshot's default is infinity
        assert "Install" not in s                                       # started by the timer only

    def test_timer(self):
        """Yearly on 1 January, caught up after downtime, spread, and pointing at an existing service."""
        t = unit(TIMER)
        assert value(t, "Timer", "OnCalendar") == "*-01-01 03:00:00 UTC"
        assert value(t, "Timer", "Persistent") == "yes"
        assert seconds(value(t, "Timer", "RandomizedDelaySec")) > 0
        target = value(t, "Timer", "Unit") or TIMER.replace(".timer", ".service")
        assert (UNIT_DIR / target).is_file()            # verify alone stays silent about a missing one
        assert value(t, "Install", "WantedBy") == "timers.target"

    def test_forecast_year_argument(self, tmp_path):
        """The forecast's inline Python calls the CLI with `forecast --year <current UTC year>`.

        The command line is split as systemd would (double quotes, no escapes or specifiers in it)
        and run against a stand-in ``central.cli`` that prints the arguments it was given.
        """
        exec_start = value(unit("das-forecast.service"), "Service", "ExecStart")
        assert not set(exec_start) & set("\\%$"), "shlex and systemd would split this differently"
        argv = shlex.split(exec_start)
        assert argv[0] == INSTALLED_PYTHON and argv[1] == "-c" and len(argv) == 3
        stand_in = tmp_path / "central"
        stand_in.mkdir()
        (stand_in / "__init__.py").write_text("")
        (stand_in / "cli.py").write_text("import json, sys\n"
                                         "def main(argv):\n"
                                         "    print(json.dumps(argv))\n"
                                         "    return 0\n")
        years = {datetime.now(UTC).year}
        child = subprocess.run([sys.executable, "-c", argv[2]], check=False, cwd=tmp_path, capture_output=True,
                               text=True, env={**os.environ, "PYTHONPATH": str(tmp_path)}, timeout=60)
        years.add(datetime.now(UTC).year)       # the test may straddle New Year's midnight
        assert child.returncode == 0, child.stderr
        args = json.loads(child.stdout)
        assert args[:2] == ["forecast", "--year"] and int(args[2]) in years
        assert args[3:] == ["--config", "/etc/das-eew/central.toml"]     # [forecast] model, catalog, out_dir


def test_example_configs_load():
    """The example configs the README installs stay valid for the code that reads them."""
    from central.config import load_central_config
    from edge.config import load_config
    edge = load_config(UNIT_DIR / "edge.example.toml")
    assert edge.box == "kyushu-07" and edge.relay.port == "/dev/ttyUSB0" and edge.eew.relocate_every == 20
    central = load_central_config(UNIT_DIR / "central.example.toml")
    assert central.collector.endpoint == "tcp://*:5560" and central.association.distance_km == 40.0
    assert central.forecast.out_dir == "/var/lib/das-central/forecasts"
