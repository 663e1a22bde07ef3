"""P picks as CSV, for ``python -m edge locate PICKS.csv`` and for exchanging pick sets.

Format: UTF-8 text, one header line naming the columns, then one pick per line::

    lat,lon,elev_m,time
    32.80123,130.68541,12.5,2022-11-01T00:00:12.345Z
    32.80213,130.68544,12.7,1667260812.4

* ``lat``, ``lon``: degrees (WGS84); ``elev_m``: m above sea level, optional (default 0).
* ``time``: the P arrival, either ISO-8601 UTC (``Z``, ``+00:00`` or any other offset, which is
  converted; without an offset the time is taken as UTC; any number of fractional digits) or
  POSIX seconds as a plain number.
* Other columns (``channel``, ``snr``, ...) are ignored; blank lines and lines starting with
  ``#`` are skipped.

Every problem is a :class:`~edge.exceptions.RecordError` naming the file, the line and the
column, so a hand-edited file can be fixed from the message.

Example
-------
>>> import tempfile, pathlib
>>> path = pathlib.Path(tempfile.mkdtemp()) / "picks.csv"
>>> write_picks_csv(path, [32.8, 32.9], [130.6, 130.6], [0.0, 5.0], [1667260812.345, 1667260812.5])
>>> lat, lon, elev_m, time = read_picks_csv(path)
>>> round(float(time[0]), 3)
1667260812.345
"""
from __future__ import annotations

import csv
import math
import re
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from pathlib import Path

import numpy as np

from edge.exceptions import RecordError

__all__ = ["read_picks_csv", "write_picks_csv", "parse_time", "format_time", "PICK_CSV_COLUMNS"]

PICK_CSV_COLUMNS = ("lat", "lon", "elev_m", "time")
_REQUIRED = ("lat", "lon", "time")
# Seconds field with its fraction split off, so digits beyond microseconds are not lost.
_ISO = re.compile(r"^(?P<base>\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2})(?P<frac>\.\d+)?(?P<tz>Z|z|[+-]\d{2}:?\d{2})?$")
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def parse_time(text: str) -> float:
    """POSIX seconds from ISO-8601 (UTC unless an offset says otherwise) or a plain number.

    Raises
    ------
    ValueError
        Neither form, or not finite.
    """
    text = text.strip()
    match = _ISO.match(text)
    if match is None:
        try:
            value = float(Decimal(text))
        except (InvalidOperation, ValueError):
            raise ValueError(f"{text!r} is neither ISO-8601 UTC nor POSIX seconds") from None
        if not math.isfinite(value):
            raise ValueError(f"{text!r} is not a finite time")
        return value
    tz = match["tz"] or "+00:00"
    tz = "+00:00" if tz in ("Z", "z") else tz
    try:
        moment = datetime.fromisoformat(match["base"].replace(" ", "T") + tz)
    except ValueError as exc:
        raise ValueError(f"{text!r}: {exc}") from None
    whole = (moment - _EPOCH).days * 86400 + (moment - _EPOCH).seconds
    return float(Decimal(whole) + Decimal(match["frac"] or "0"))


def format_time(posix_s: float) -> str:
    """ISO-8601 UTC with microseconds and ``Z``, e.g. ``2022-11-01T00:00:12.345000Z``."""
    seconds = math.floor(posix_s)
    micro = round((posix_s - seconds) * 1e6)
    if micro == 1_000_000:
        seconds, micro = seconds + 1, 0
    moment = datetime.fromtimestamp(seconds, tz=timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + f".{micro:06d}Z"


def _number(text: str, where: str, column: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise RecordError(f"{where}: column {column!r}: {text.strip()!r} is not a number") from None
    if not math.isfinite(value):
        raise RecordError(f"{where}: column {column!r}: {text.strip()!r} is not finite")
    return value


def read_picks_csv(path: str | Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Read a pick file (module doc).

    Returns
    -------
    lat, lon, elev_m, time : ndarray (n,) float64
        Degrees, degrees, m, POSIX s; in file order.

    Raises
    ------
    RecordError
        Missing file or columns, a bad value (naming line and column), no picks.
    """
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except FileNotFoundError:
        raise RecordError(f"pick file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise RecordError(f"pick file {path} unreadable: {exc}") from None
    rows = [(i, row) for i, row in enumerate(csv.reader(text.splitlines()), start=1)
            if row and any(cell.strip() for cell in row) and not row[0].lstrip().startswith("#")]
    if not rows:
        raise RecordError(f"{path}: empty (expected a header line {','.join(PICK_CSV_COLUMNS)})")
    header_line, header = rows[0]
    names = [name.strip().lower() for name in header]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise RecordError(f"{path}:{header_line}: duplicated column(s) {duplicated}")
    missing = [name for name in _REQUIRED if name not in names]
    if missing:
        raise RecordError(f"{path}:{header_line}: missing column(s) {missing}; header is {names}")
    col = {name: names.index(name) for name in PICK_CSV_COLUMNS if name in names}
    out: dict[str, list[float]] = {name: [] for name in PICK_CSV_COLUMNS}
    for line, row in rows[1:]:
        where = f"{path}:{line}"
        if len(row) != len(names):
            raise RecordError(f"{where}: {len(row)} fields, the header has {len(names)}")
        lat = _number(row[col["lat"]], where, "lat")
        lon = _number(row[col["lon"]], where, "lon")
        if not -90.0 <= lat <= 90.0:
            raise RecordError(f"{where}: column 'lat': {lat} outside [-90, 90]")
        if not -180.0 <= lon <= 360.0:
            raise RecordError(f"{where}: column 'lon': {lon} outside [-180, 360]")
        elev = _number(row[col["elev_m"]], where, "elev_m") if "elev_m" in col else 0.0
        try:
            time = parse_time(row[col["time"]])
        except ValueError as exc:
            raise RecordError(f"{where}: column 'time': {exc}") from None
        for name, value in zip(PICK_CSV_COLUMNS, (lat, lon, elev, time)):
            out[name].append(value)
    if not out["time"]:
        raise RecordError(f"{path}: no picks after the header")
    return tuple(np.array(out[name], dtype=np.float64) for name in PICK_CSV_COLUMNS)


def write_picks_csv(path: str | Path, lat, lon, elev_m, time, *, time_format: str = "iso") -> None:
    """Write picks in the format :func:`read_picks_csv` reads.

    Parameters
    ----------
    lat, lon, elev_m, time : array_like (n,)
        Degrees, degrees, m (scalar broadcasts), POSIX s.
    time_format : {"iso", "posix"}
        ISO-8601 UTC to the microsecond, or POSIX seconds written exactly (``repr``).
    """
    if time_format not in ("iso", "posix"):
        raise ValueError(f"time_format must be 'iso' or 'posix', got {time_format!r}")
    lat = np.atleast_1d(np.asarray(lat, dtype=np.float64))
    arrays = [lat] + [np.broadcast_to(np.asarray(a, dtype=np.float64), lat.shape) for a in (lon, elev_m, time)]
    if any(a.ndim != 1 for a in arrays):
        raise ValueError("picks must be 1-D arrays of equal length")
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(PICK_CSV_COLUMNS)
        for la, lo, el, t in zip(*arrays):
            stamp = format_time(float(t)) if time_format == "iso" else repr(float(t))
            writer.writerow([repr(float(la)), repr(float(lo)), repr(float(el)), stamp])
