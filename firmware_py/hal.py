"""The hardware the relay controller needs, as an interface (MicroPython-compatible, documentation only).

A HAL object provides:

* ``ticks_ms()`` -> int: a millisecond clock (monotonic; may wrap at 2**30 or more on a device).
* ``uart_read()`` -> bytes: whatever bytes have arrived, ``b""`` if none; never blocks.
* ``uart_write(data)``: queue bytes for the edge; never blocks for long.
* ``set_relay(clear)``: energise the train-stop relay (True: "line clear") or release it (False:
  STOP). The relay's contact is wired so that a released relay, a dead controller or lost power all
  mean STOP.
* ``set_advisory(on)``: an advisory lamp (optional: a no-op where there is none).
* ``feed_watchdog()``: kick the hardware watchdog; a hung main loop resets the controller, which
  comes back up in STOP.
* ``random_u32()`` -> int: a random 32-bit number (for the CLEAR nonce).

``firmware_py.device`` implements it with ``machine``; ``firmware_py.host`` on CPython for tests.
"""
