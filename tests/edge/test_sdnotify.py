"""edge.sdnotify against real AF_UNIX datagram sockets standing in for systemd's notify socket."""
from __future__ import annotations

import logging
import os
import socket
import struct
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest

import edge
from edge import sdnotify

pytestmark = pytest.mark.skipif(not hasattr(socket, "AF_UNIX"), reason="needs AF_UNIX sockets")
linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="abstract namespace and SO_PASSCRED are Linux features")
REPO = Path(edge.__file__).resolve().parents[1]


@pytest.fixture
def short_dir():
    """A directory with a short path: AF_UNIX paths are limited to 107 bytes, pytest's tmp_path
    for a long test name is not."""
    with tempfile.TemporaryDirectory(prefix="sdn-") as path:
        yield Path(path)


@pytest.fixture
def listener(short_dir, monkeypatch):
    """A datagram socket bound to a file path, announced in $NOTIFY_SOCKET."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    path = short_dir / "notify"
    sock.bind(str(path))
    monkeypatch.setenv("NOTIFY_SOCKET", str(path))
    monkeypatch.delenv("WATCHDOG_USEC", raising=False)
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    yield sock
    sock.close()


def recv(sock: socket.socket, timeout_s: float = 2.0) -> bytes:
    """The next datagram; fails the test (instead of hanging it) when none arrives."""
    sock.settimeout(timeout_s)
    try:
        return sock.recv(4096)
    except TimeoutError:
        pytest.fail(f"no datagram within {timeout_s} s")


def assert_quiet(sock: socket.socket) -> None:
    """Nothing more is waiting on the socket."""
    sock.settimeout(0.05)
    with pytest.raises(TimeoutError):
        sock.recv(4096)


class TestDatagrams:
    def test_helpers_send_exactly_the_assignments(self, listener):
        """ready/stopping/watchdog/status/notify send exactly systemd's assignments, one datagram each."""
        assert sdnotify.ready() is True
        assert recv(listener) == b"READY=1"
        assert sdnotify.watchdog() is True
        assert recv(listener) == b"WATCHDOG=1"
        assert sdnotify.stopping() is True
        assert recv(listener) == b"STOPPING=1"
        assert sdnotify.status("replaying 3 records") is True
        assert recv(listener) == b"STATUS=replaying 3 records"
        assert sdnotify.notify("READY=1\nSTATUS=up") is True
        assert recv(listener) == b"READY=1\nSTATUS=up"
        assert_quiet(listener)

    def test_reloading_carries_the_monotonic_clock(self, listener):
        """reloading() sends RELOADING=1 and MONOTONIC_USEC read from CLOCK_MONOTONIC at the call."""
        before = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        assert sdnotify.reloading() is True
        after = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        first, second = recv(listener).decode().split("\n")
        assert first == "RELOADING=1"
        key, value = second.split("=")
        assert key == "MONOTONIC_USEC" and before <= int(value) <= after

    def test_status_cannot_inject_assignments(self, listener):
        """A newline in the status text cannot smuggle in another assignment; long text is cut."""
        sdnotify.status("line one\nREADY=1\r\nMAINPID=1")
        assert recv(listener) == b"STATUS=line one READY=1 MAINPID=1"
        sdnotify.status("x" * 10_000)
        assert recv(listener) == b"STATUS=" + b"x" * sdnotify.STATUS_MAX_CHARS

    @linux_only
    def test_abstract_namespace(self, monkeypatch):
        """A leading '@' in $NOTIFY_SOCKET addresses Linux's abstract namespace."""
        name = f"das-eew-test-{os.getpid()}-{uuid.uuid4().hex}"
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.bind("\0" + name)
            monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
            assert sdnotify.ready() is True
            assert recv(sock) == b"READY=1"
            assert sdnotify.watchdog() is True
            assert recv(sock) == b"WATCHDOG=1"

    def test_socket_kept_between_calls(self, listener):
        """Consecutive notifications share one open socket rather than opening one per call."""
        sdnotify.watchdog()
        kept = sdnotify._sock
        for _ in range(20):
            assert sdnotify.watchdog() is True
            assert recv(listener) == b"WATCHDOG=1"
        assert sdnotify._sock is kept and kept.fileno() >= 0

    def test_socket_closed_underneath_is_replaced(self, listener):
        """If the kept socket breaks (here its fd is closed behind the module's back), the
        notification still goes out on a fresh one."""
        assert sdnotify.watchdog() is True
        recv(listener)
        os.close(sdnotify._sock.fileno())
        assert sdnotify.watchdog() is True
        assert recv(listener) == b"WATCHDOG=1"


class TestNoSystemd:
    def test_unset_variable_is_a_no_op(self, monkeypatch):
        """Without $NOTIFY_SOCKET (or with it empty) every helper returns False."""
        monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
        assert (sdnotify.ready(), sdnotify.watchdog(), sdnotify.stopping(), sdnotify.reloading(),
                sdnotify.status("x"), sdnotify.notify("READY=1")) == (False,) * 6
        monkeypatch.setenv("NOTIFY_SOCKET", "")
        assert sdnotify.ready() is False

    def test_missing_socket_path_does_not_raise(self, short_dir, monkeypatch):
        """A socket path that does not exist gives False, never an exception."""
        monkeypatch.setenv("NOTIFY_SOCKET", str(short_dir / "gone"))
        assert sdnotify.ready() is False
        assert sdnotify.watchdog() is False

    @pytest.mark.parametrize("value", ["relative/path", "vsock:2:1234", "/" + "x" * 200])
    def test_unusable_addresses_do_not_raise(self, monkeypatch, value):
        """Relative paths, vsock addresses and over-long paths give False."""
        monkeypatch.setenv("NOTIFY_SOCKET", value)
        assert sdnotify.ready() is False

    def test_full_queue_does_not_block(self, listener):
        """When nobody reads the socket, sends fail at once instead of stalling the caller."""
        start = time.monotonic()
        results = [sdnotify.watchdog() for _ in range(5000)]
        assert results[0] is True and results[-1] is False
        assert time.monotonic() - start < 5.0

    def test_failures_logged_once_per_run(self, listener, short_dir, monkeypatch, caplog):
        """The first failure of a run is logged at debug level, the rest are not, until a success."""
        caplog.set_level(logging.DEBUG, logger="edge.sdnotify")
        assert sdnotify.ready() is True                         # ends any earlier run of failures
        recv(listener)
        good = os.environ["NOTIFY_SOCKET"]
        monkeypatch.setenv("NOTIFY_SOCKET", str(short_dir / "gone"))
        for _ in range(3):
            assert sdnotify.watchdog() is False
        failures = [r for r in caplog.records if r.name == "edge.sdnotify"]
        assert len(failures) == 1 and failures[0].levelno == logging.DEBUG
        assert "gone" in failures[0].getMessage()
        monkeypatch.setenv("NOTIFY_SOCKET", good)
        assert sdnotify.watchdog() is True
        recv(listener)
        monkeypatch.setenv("NOTIFY_SOCKET", str(short_dir / "gone"))
        sdnotify.watchdog()
        assert len([r for r in caplog.records if r.name == "edge.sdnotify"]) == 2


class TestWatchdogInterval:
    @pytest.mark.parametrize(("usec", "expected"), [("10000000", 10.0), ("500000", 0.5), ("1", 1e-6)])
    def test_parsed(self, monkeypatch, usec, expected):
        """$WATCHDOG_USEC (microseconds) becomes seconds."""
        monkeypatch.delenv("WATCHDOG_PID", raising=False)
        monkeypatch.setenv("WATCHDOG_USEC", usec)
        assert sdnotify.watchdog_interval_s() == pytest.approx(expected)

    @pytest.mark.parametrize("usec", ["", "abc", "0", "-5000000", "1.5e6", "10s", "0x10"])
    def test_garbage_is_none(self, monkeypatch, usec):
        """Empty, non-integer, zero and negative values mean no watchdog."""
        monkeypatch.delenv("WATCHDOG_PID", raising=False)
        monkeypatch.setenv("WATCHDOG_USEC", usec)
        assert sdnotify.watchdog_interval_s() is None

    def test_unset_is_none(self, monkeypatch):
        """No $WATCHDOG_USEC, no watchdog."""
        monkeypatch.delenv("WATCHDOG_USEC", raising=False)
        monkeypatch.delenv("WATCHDOG_PID", raising=False)
        assert sdnotify.watchdog_interval_s() is None

    @pytest.mark.parametrize(("pid", "applies"), [("self", True), ("1", False), ("not-a-pid", False), ("", False)])
    def test_watchdog_pid_must_be_ours(self, monkeypatch, pid, applies):
        """$WATCHDOG_PID, when set, must name this process (else the variables were inherited)."""
        monkeypatch.setenv("WATCHDOG_USEC", "4000000")
        monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()) if pid == "self" else pid)
        assert sdnotify.watchdog_interval_s() == (4.0 if applies else None)


class TestSubprocess:
    @linux_only
    def test_child_process_sends_ready(self, listener):
        """A separate interpreter using edge.sdnotify sends READY=1, with its own pid in the
        kernel-attached credentials (what systemd checks for NotifyAccess=main)."""
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        script = "import sys; from edge import sdnotify; sys.exit(0 if sdnotify.ready() else 1)"
        child = subprocess.run([sys.executable, "-c", script], check=False, cwd=REPO, env=dict(os.environ),
                               capture_output=True, text=True, timeout=60)
        assert child.returncode == 0, child.stderr
        listener.settimeout(2.0)
        data, ancillary, _, _ = listener.recvmsg(4096, socket.CMSG_SPACE(struct.calcsize("3i")))
        assert data == b"READY=1"
        creds = [struct.unpack("3i", d[:12]) for level, kind, d in ancillary
                 if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS]
        assert len(creds) == 1
        pid, uid, _ = creds[0]
        assert pid != os.getpid() and uid == os.getuid()

    def test_child_without_socket_exits_cleanly(self, monkeypatch):
        """Outside systemd the same script runs and reports False, with nothing on stderr."""
        monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
        script = "from edge import sdnotify; print(sdnotify.ready(), sdnotify.watchdog_interval_s())"
        child = subprocess.run([sys.executable, "-c", script], check=False, cwd=REPO, env=dict(os.environ),
                               capture_output=True, text=True, timeout=60)
        assert (child.returncode, child.stdout.strip(), child.stderr) == (0, "False None", "")
