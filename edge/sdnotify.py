"""systemd service notifications (``sd_notify``) without dependencies.

A ``Type=notify`` unit hands the service ``$NOTIFY_SOCKET``: an AF_UNIX datagram socket, a file
path or, with a leading ``@``, a name in Linux's abstract namespace. Each notification is one
datagram of newline-separated ``KEY=VALUE`` assignments (``READY=1``, ``WATCHDOG=1``, ...).

Outside systemd (a shell, the tests, ``edge replay``) the variable is unset and every call is a
no-op returning False. A failed notification never raises: losing one watchdog ping is
harmless, losing the daemon to its supervisor's socket is not. Sends are non-blocking, so a
jammed PID 1 cannot stall the alarm path either.

Example
-------
>>> from edge import sdnotify
>>> sdnotify.ready()                   # False here: not started by systemd
False
>>> period = sdnotify.watchdog_interval_s()   # None unless WatchdogSec= is set
"""
from __future__ import annotations

import logging
import os
import socket
import threading
import time

__all__ = ["notify", "ready", "reloading", "status", "stopping", "watchdog", "watchdog_interval_s"]

log = logging.getLogger(__name__)

# systemd reads notifications into a buffer of PIPE_BUF (4096) bytes and drops longer datagrams.
STATUS_MAX_CHARS = 1000

_lock = threading.Lock()
_sock: socket.socket | None = None
_failing = False            # inside a run of failures: log only its first


def notify(state: str) -> bool:
    """Send one notification to ``$NOTIFY_SOCKET``.

    Parameters
    ----------
    state : newline-separated assignments, e.g. ``"READY=1"`` or ``"STATUS=warming up"``.

    Returns
    -------
    True when the datagram was sent; False when the variable is unset or empty, the address is
    not one this module speaks (a path or ``@name``), or sending failed. The first failure of a
    run is logged at debug level; nothing is raised.

    Notes
    -----
    Safe to call from several threads (one socket, behind a lock), but not from a signal handler
    (set a flag there, as the daemon does). The socket stays open between calls; after an error
    it is closed and the send is tried once more on a fresh one.
    """
    global _failing
    name = os.environ.get("NOTIFY_SOCKET", "")
    if not name:
        return False
    if name[0] == "@":
        address = "\0" + name[1:]              # Linux abstract namespace
    elif name[0] == "/":
        address = name
    else:
        # systemd >= 254 may hand a VM vsock:CID:PORT; the edge and central run on the host.
        with _lock:
            return _failed(f"unsupported NOTIFY_SOCKET address {name!r}")
    data = state.encode("utf-8", "replace")
    with _lock:
        reused = _sock is not None
        try:
            _open().sendto(data, address)
        except (OSError, ValueError) as exc:
            _close()
            if not reused:
                return _failed(f"sd_notify to {name!r} failed: {exc}")
            try:       # the kept socket may be what broke (e.g. its fd closed under us)
                _open().sendto(data, address)
            except (OSError, ValueError) as exc2:
                _close()
                return _failed(f"sd_notify to {name!r} failed: {exc2}")
        _failing = False
        return True


def ready() -> bool:
    """``READY=1``: start-up is complete (systemd starts the watchdog and the units after it)."""
    return notify("READY=1")


def stopping() -> bool:
    """``STOPPING=1``: shutting down."""
    return notify("STOPPING=1")


def reloading() -> bool:
    """``RELOADING=1`` with ``MONOTONIC_USEC``: a reload began; send :func:`ready` when it is done.

    systemd >= 253 (``Type=notify-reload``) requires MONOTONIC_USEC to match the reload to its
    request; older versions ignore it.
    """
    # time.monotonic_ns() is CLOCK_MONOTONIC on Linux, the clock systemd compares this with.
    return notify(f"RELOADING=1\nMONOTONIC_USEC={time.monotonic_ns() // 1000}")


def watchdog() -> bool:
    """``WATCHDOG=1``: keep-alive ping; send it at least every half :func:`watchdog_interval_s`."""
    return notify("WATCHDOG=1")


def status(text: str) -> bool:
    """``STATUS=text``, shown by ``systemctl status``.

    Line breaks become spaces (a newline would start another assignment, e.g. a forged
    ``READY=1``) and the text is cut to ``STATUS_MAX_CHARS``.
    """
    line = " ".join(text.splitlines())[:STATUS_MAX_CHARS]
    return notify("STATUS=" + line)


def watchdog_interval_s() -> float | None:
    """systemd's watchdog timeout for this process, s, or None when there is none.

    From ``$WATCHDOG_USEC`` (a positive integer, microseconds); when ``$WATCHDOG_PID`` is set it
    must be this process's pid (otherwise the variables were inherited from a parent). Garbage in
    either variable means None.
    """
    pid = os.environ.get("WATCHDOG_PID")
    if pid is not None:
        try:
            if int(pid) != os.getpid():
                return None
        except ValueError:
            return None
    try:
        usec = int(os.environ.get("WATCHDOG_USEC", ""))
    except ValueError:
        return None
    return usec / 1e6 if usec > 0 else None


def _open() -> socket.socket:
    """The shared datagram socket, opened if none is. Caller holds ``_lock``."""
    global _sock
    if _sock is None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.setblocking(False)     # a full receive queue gives EAGAIN, never a stalled loop
        _sock = sock
    return _sock


def _close() -> None:
    """Close the shared socket (the next send opens a new one). Caller holds ``_lock``."""
    global _sock
    if _sock is not None:
        try:
            _sock.close()
        except OSError:
            pass
        _sock = None


def _failed(message: str) -> bool:
    """Log the first failure of a run at debug level; return False. Caller holds ``_lock``."""
    global _failing
    if not _failing:
        _failing = True
        log.debug("%s (further failures not logged until a notification succeeds)", message)
    return False
