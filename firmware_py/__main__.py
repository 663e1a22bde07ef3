"""``python -m firmware_py --pty | --port PATH``: the relay controller on CPython (host HAL).

Prints JSON lines: ``{"pty": PATH}`` first with ``--pty``, then ``{"relay": "stop"|"clear", "reason":
..., "t_ms": ...}`` at every output change. SIGTERM/SIGINT release the relay (STOP) and exit.
"""
import argparse
import json
import os
import signal
import sys
import time

from firmware_py.controller import ControllerConfig, RelayController
from firmware_py.host import HostHal
from firmware_py.protocol import REASONS


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m firmware_py", description=__doc__.split("\n\n")[0])
    where = ap.add_mutually_exclusive_group(required=True)
    where.add_argument("--pty", action="store_true", help="create a pseudo-terminal and print its path")
    where.add_argument("--port", help="serial device or pseudo-terminal to open")
    ap.add_argument("--controller-id", type=int, default=2)
    ap.add_argument("--edge-id", type=int, default=1)
    ap.add_argument("--key", type=int, default=0, help="the link's 32-bit safety code")
    ap.add_argument("--permit-timeout-ms", type=int, default=500)
    ap.add_argument("--max-delay-ms", type=int, default=200)
    args = ap.parse_args(argv)
    if args.pty:
        fd, slave = os.openpty()
        path = os.ttyname(slave)
        print(json.dumps({"pty": path}), flush=True)
    else:
        fd = os.open(args.port, os.O_RDWR | os.O_NOCTTY)
    running = [True]
    signal.signal(signal.SIGTERM, lambda *_: running.__setitem__(0, False))
    signal.signal(signal.SIGINT, lambda *_: running.__setitem__(0, False))
    ctrl = None

    def on_relay(clear, t_ms):
        reason = "permits" if clear else (REASONS[ctrl.latched] if ctrl is not None and ctrl.latched else
                                          "permit-timeout" if ctrl is not None else "power-on")
        print(json.dumps({"relay": "clear" if clear else "stop", "reason": reason, "t_ms": t_ms}), flush=True)

    hal = HostHal(fd, on_relay=on_relay)
    cfg = ControllerConfig(controller_id=args.controller_id, edge_id=args.edge_id, key=args.key,
                           permit_timeout_ms=args.permit_timeout_ms, max_delay_ms=args.max_delay_ms)
    ctrl = RelayController(hal, cfg)
    while running[0]:
        ctrl.step()
        time.sleep(0.002)
    hal.set_relay(False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
