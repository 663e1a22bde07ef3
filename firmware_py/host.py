"""CPython shims of the HAL (tests, demos, a controller on a PC): a pseudo-terminal or tty as UART,
a relay that records its transitions, the real monotonic clock. Not an on-device file."""
from __future__ import annotations

import os
import random
import termios
import time
import tty


class HostHal:
    """HAL over a file descriptor of a tty or pseudo-terminal (put in raw, non-blocking mode).

    ``on_relay(clear, t_ms)`` is called at every output change.
    """

    def __init__(self, fd: int, on_relay=None, clock=time.monotonic):
        self.fd = fd
        tty.setraw(fd)
        attrs = termios.tcgetattr(fd)
        attrs[3] &= ~termios.ECHO
        termios.tcsetattr(fd, termios.TCSANOW, attrs)
        os.set_blocking(fd, False)
        self.clock = clock
        self.on_relay = on_relay
        self.relay_clear = False
        self.transitions: list[tuple[int, bool]] = []
        self.advisory = False
        self.watchdog_fed = 0
        self._out = bytearray()
        self._rng = random.SystemRandom()

    def ticks_ms(self) -> int:
        return int(self.clock() * 1000)

    def uart_read(self) -> bytes:
        self._flush()
        try:
            return os.read(self.fd, 4096)
        except (BlockingIOError, InterruptedError):
            return b""
        except OSError:            # the other end is closed (an edge not there): no bytes
            return b""

    def uart_write(self, data: bytes) -> None:
        if len(self._out) < 65536:  # a peer that never reads must not grow memory
            self._out += data
        self._flush()

    def _flush(self) -> None:
        while self._out:
            try:
                n = os.write(self.fd, self._out)
            except (BlockingIOError, InterruptedError, OSError):
                return
            del self._out[:n]

    def set_relay(self, clear: bool) -> None:
        self.relay_clear = clear
        self.transitions.append((self.ticks_ms(), clear))
        if self.on_relay is not None:
            self.on_relay(clear, self.ticks_ms())

    def set_advisory(self, on: bool) -> None:
        self.advisory = on

    def feed_watchdog(self) -> None:
        self.watchdog_fed += 1

    def random_u32(self) -> int:
        return self._rng.getrandbits(32)
