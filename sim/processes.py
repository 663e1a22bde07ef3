"""The parts as real processes on loopback (for the live demo, the soak benchmark and end-to-end tests):
output to files (never a full pipe), JSON lines read back."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path



def free_tcp_port() -> int:
    """A loopback TCP port nobody listens on right now."""
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Proc:
    """A child process whose stdout and stderr go to ``base.stdout`` and ``base.stderr``."""

    def __init__(self, cmd: list[str], base: Path, env: dict | None = None):
        self.cmd = cmd
        self.paths = {"stdout": base.with_suffix(".stdout"), "stderr": base.with_suffix(".stderr")}
        self._files = {k: open(p, "wb") for k, p in self.paths.items()}
        self.popen = subprocess.Popen(cmd, stdout=self._files["stdout"], stderr=self._files["stderr"],
                                      env={**os.environ, **(env or {})}, start_new_session=True)

    def lines(self, stream: str = "stdout") -> list[dict]:
        """Every complete JSON object line written so far (other lines are skipped)."""
        out = []
        text = self.paths[stream].read_text(errors="replace")
        for line in text.splitlines(keepends=True):
            if not line.endswith("\n"):
                break
            try:
                d = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(d, dict):
                out.append(d)
        return out

    def find(self, predicate, *, start: int = 0, stream: str = "stdout") -> dict | None:
        for d in self.lines(stream)[start:]:
            if predicate(d):
                return d
        return None

    def wait_line(self, predicate, timeout_s: float, *, start: int = 0, stream: str = "stdout") -> dict:
        """The first JSON line from index ``start`` on satisfying ``predicate``; AssertionError on timeout."""
        end = time.monotonic() + timeout_s
        while True:
            found = self.find(predicate, start=start, stream=stream)
            if found is not None:
                return found
            if self.popen.poll() is not None and self.find(predicate, start=start, stream=stream) is None:
                raise AssertionError(f"{self.cmd[2:4]} exited ({self.popen.returncode}) before the line came; "
                                     f"stderr: {self.paths['stderr'].read_text()[-2000:]}")
            if time.monotonic() > end:
                raise AssertionError(f"{self.cmd[2:4]}: no such line within {timeout_s} s; last: "
                                     f"{self.lines(stream)[-3:]}; stderr: {self.paths['stderr'].read_text()[-1500:]}")
            time.sleep(0.05)

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(sig)
            self.popen.wait(10)

    def wait(self, timeout_s: float) -> int:
        return self.popen.wait(timeout_s)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 10 s; close the output files."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(10)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(5)
        for f in self._files.values():
            f.close()
