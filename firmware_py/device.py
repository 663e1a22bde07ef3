"""The HAL on a MicroPython board (``machine``): UART, relay pin, advisory pin, hardware watchdog.

Pin and UART numbers are board wiring; change them here. Import-checked only off the device.
"""
import os
import time

import machine


class DeviceHal:
    def __init__(self, uart_id=1, baudrate=115200, relay_pin=2, advisory_pin=3, watchdog_ms=2000):
        self.uart = machine.UART(uart_id, baudrate=baudrate, timeout=0)
        self.relay = machine.Pin(relay_pin, machine.Pin.OUT, value=0)      # released = STOP
        self.advisory = machine.Pin(advisory_pin, machine.Pin.OUT, value=0)
        self.wdt = machine.WDT(timeout=watchdog_ms)

    def ticks_ms(self):
        # controller arithmetic assumes a non-wrapping clock; ticks_ms wraps after ~12 days on
        # 30-bit ports, so keep a running 64-bit count from ticks_diff
        now = time.ticks_ms()
        if not hasattr(self, "_last"):
            self._last, self._total = now, 0
        self._total += time.ticks_diff(now, self._last)
        self._last = now
        return self._total

    def uart_read(self):
        n = self.uart.any()
        return self.uart.read(n) if n else b""

    def uart_write(self, data):
        self.uart.write(data)

    def set_relay(self, clear):
        self.relay.value(1 if clear else 0)

    def set_advisory(self, on):
        self.advisory.value(1 if on else 0)

    def feed_watchdog(self):
        self.wdt.feed()

    def random_u32(self):
        b = os.urandom(4)
        return b[0] | (b[1] << 8) | (b[2] << 16) | (b[3] << 24)


def main():
    from firmware_py.controller import ControllerConfig, RelayController
    ctrl = RelayController(DeviceHal(), ControllerConfig())
    while True:
        ctrl.step()
