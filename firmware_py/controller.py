"""The relay controller's fail-safe state machine (MicroPython-compatible; all I/O through the HAL).

The output is "line clear" only while (1) no STOP is latched and (2) a valid, fresh PERMIT arrived
within ``permit_timeout_ms``. Latched STOP comes from: power-on, an ALARM of level stop, a PERMIT
timeout, a CRC fault, a sequence fault (a duplicate, replayed or reordered frame) and a frame
from a wrong source or to a wrong destination. It is cleared only by a CLEAR frame carrying the
nonce of the controller's latest STATUS (so an old CLEAR cannot be replayed); the CLEAR's seq
becomes the new baseline, which also lets a restarted edge with a fresh counter in. Stale frames
(arriving ``max_delay_ms`` later than the quickest transit seen, re-based by every accepted CLEAR) are not taken as fresh PERMITs.
"""
from firmware_py import protocol as p

R_NONE, R_POWER_ON, R_ALARM, R_TIMEOUT, R_CRC, R_SEQUENCE, R_MASQUERADE = 0, 1, 2, 3, 4, 5, 6


class ControllerConfig:
    """Ids, link key and timing (ms)."""

    def __init__(self, controller_id=2, edge_id=1, key=0, permit_timeout_ms=500, max_delay_ms=200,
                 status_interval_ms=500):
        self.controller_id = controller_id
        self.edge_id = edge_id
        self.key = key
        self.permit_timeout_ms = permit_timeout_ms
        self.max_delay_ms = max_delay_ms
        self.status_interval_ms = status_interval_ms


class RelayController:
    """Call :meth:`step` as often as possible (every few ms)."""

    def __init__(self, hal, config=None):
        self.hal = hal
        self.cfg = config or ControllerConfig()
        self.reader = p.FrameReader(self.cfg.key)
        self.latched = R_POWER_ON
        self.advisory = False
        self.last_seq = None
        self.last_permit_ms = None
        self.max_offset = None
        self.nonce = hal.random_u32()
        self.seq = 0
        self.output_clear = False
        self.counts = {"crc": 0, "sequence": 0, "timeouts": 0, "ok": 0, "stale": 0, "masquerade": 0, "gaps": 0}
        self.next_status_ms = hal.ticks_ms()
        hal.set_relay(False)

    def step(self):
        hal = self.hal
        now = hal.ticks_ms()
        data = hal.uart_read()
        if data:
            before = self.reader.rejected.get("crc", 0)
            for frame in self.reader.feed(data):
                self._handle(frame, now)
            if self.reader.rejected.get("crc", 0) != before:
                self.counts["crc"] += self.reader.rejected["crc"] - before
                self._latch(R_CRC, now)
        if self.last_permit_ms is not None and now - self.last_permit_ms > self.cfg.permit_timeout_ms:
            self.last_permit_ms = None
            self.counts["timeouts"] += 1
            self._latch(R_TIMEOUT, now)
        self._drive(now)
        if now >= self.next_status_ms:
            self._send_status(now)
        hal.feed_watchdog()

    # --- frames ---------------------------------------------------------------------------------
    def _handle(self, f, now):
        if f.dst != self.cfg.controller_id or f.src != self.cfg.edge_id:
            self.counts["masquerade"] += 1
            self._latch(R_MASQUERADE, now)
            return
        if f.type == p.CLEAR:
            if p.parse_clear(f.payload) == self.nonce:
                self.latched = R_NONE
                self.last_seq = f.seq
                self.last_permit_ms = None
                self.max_offset = self._offset(f, now)   # an operator's fresh CLEAR re-bases transit time
                self.nonce = self.hal.random_u32()
                self.advisory = False
                self.hal.set_advisory(False)
                self._ack(f, now)
                self._send_status(now)
            else:   # a replayed or stale CLEAR: a replay fault like any other
                self.counts["sequence"] += 1
                self._latch(R_SEQUENCE, now)
            return
        if self.last_seq is not None and f.seq <= self.last_seq:
            self.counts["sequence"] += 1
            self._latch(R_SEQUENCE, now)
            return
        if self.last_seq is not None and f.seq > self.last_seq + 1:
            self.counts["gaps"] += 1
        self.last_seq = f.seq
        self.counts["ok"] += 1
        # sender clock minus arrival: the largest value seen is the quickest transit; a frame
        # delayed by d arrives with an offset d below it
        offset = self._offset(f, now)
        if self.max_offset is None or offset > self.max_offset:
            self.max_offset = offset
        stale = self.max_offset - offset > self.cfg.max_delay_ms
        if f.type == p.PERMIT:
            if stale:
                self.counts["stale"] += 1
            else:
                self.last_permit_ms = now
        elif f.type == p.ALARM:
            level = p.parse_alarm(f.payload)[0]
            if level == p.LEVEL_STOP:
                self._latch(R_ALARM, now)
            elif level == p.LEVEL_ADVISORY:
                self.advisory = True
                self.hal.set_advisory(True)
            self._ack(f, now)

    def _offset(self, f, now):
        offset = (f.timestamp_ms - now) & 0xFFFFFFFF
        return offset - 0x100000000 if offset >= 0x80000000 else offset

    def _latch(self, reason, now):
        if self.latched == R_NONE:
            self.latched = reason
        self._drive(now)

    def _drive(self, now):
        clear = self.latched == R_NONE and self.last_permit_ms is not None
        if clear != self.output_clear:
            self.output_clear = clear
            self.hal.set_relay(clear)
            self._send_status(now)

    # --- replies --------------------------------------------------------------------------------
    def _send(self, type, payload, now):
        self.seq = (self.seq + 1) & 0xFFFFFFFF
        frame = p.Frame(type, self.seq, now, self.cfg.controller_id, self.cfg.edge_id, payload)
        self.hal.uart_write(p.encode_frame(frame, self.cfg.key))

    def _ack(self, f, now):
        self._send(p.ACK, p.ack_payload(f.seq, f.type), now)

    def _send_status(self, now):
        c = self.counts
        self._send(p.STATUS, p.status_payload(self.output_clear, self.latched, self.advisory, self.nonce,
                                              self.last_seq or 0, c["crc"], c["sequence"], c["timeouts"], c["ok"]), now)
        self.next_status_ms = now + self.cfg.status_interval_ms
