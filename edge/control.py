"""The daemon's local control socket: ``python -m edge status`` and ``python -m edge clear``.

A ZeroMQ REP socket (by default ``ipc://STATE_DIR/control.sock``, readable only by the daemon's user)
taking one JSON request ``{"cmd": "status" | "clear"}`` and answering one JSON object. The daemon's
main loop polls it without waiting; a malformed request gets ``{"error": ...}`` and is counted.
"""
from __future__ import annotations

import json
from typing import Callable

import zmq

MAX_REQUEST = 4096
COMMANDS = ("status", "clear")


class ControlServer:
    """Answers control requests with ``handlers[cmd]()`` (each returns a JSON-able dict)."""

    def __init__(self, endpoint: str, handlers: dict[str, Callable[[], dict]], context: zmq.Context | None = None):
        self.handlers = handlers
        self.rejected = 0
        self.socket = (context or zmq.Context.instance()).socket(zmq.REP)
        self.socket.setsockopt(zmq.LINGER, 0)
        self.socket.setsockopt(zmq.MAXMSGSIZE, MAX_REQUEST)
        self.socket.bind(endpoint)

    def serve_pending(self) -> int:
        """Answer every request waiting now; return how many."""
        n = 0
        while True:
            try:
                frames = self.socket.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return n
            n += 1
            self.socket.send(json.dumps(self._answer(frames), default=str).encode())

    def _answer(self, frames: list[bytes]) -> dict:
        try:
            request = json.loads(frames[0]) if len(frames) == 1 else None
        except (UnicodeDecodeError, json.JSONDecodeError):
            request = None
        cmd = request.get("cmd") if isinstance(request, dict) else None
        if cmd not in self.handlers:
            self.rejected += 1
            return {"error": f"expected {{\"cmd\": one of {sorted(self.handlers)}}}"}
        return self.handlers[cmd]()

    def close(self) -> None:
        self.socket.close(0)


def request(endpoint: str, cmd: str, *, timeout_s: float = 3.0, context: zmq.Context | None = None) -> dict:
    """Send one control request to a running daemon; raise TimeoutError if it does not answer."""
    sock = (context or zmq.Context.instance()).socket(zmq.REQ)
    sock.setsockopt(zmq.LINGER, 0)
    try:
        sock.connect(endpoint)
        sock.send(json.dumps({"cmd": cmd}).encode())
        if not sock.poll(int(timeout_s * 1000)):
            raise TimeoutError(f"no answer from {endpoint} within {timeout_s:g} s: is the daemon running?")
        return json.loads(sock.recv())
    finally:
        sock.close(0)
