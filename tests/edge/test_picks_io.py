"""Tests of edge.picks_io: round trips, both time forms, and clear errors for bad rows."""
from __future__ import annotations

import numpy as np
import pytest

from edge.exceptions import RecordError
from edge.picks_io import format_time, parse_time, read_picks_csv, write_picks_csv

T0 = 1_667_260_800.0  # 2022-11-01T00:00:00Z


def _write(tmp_path, text: str):
    path = tmp_path / "picks.csv"
    path.write_text(text, encoding="utf-8")
    return path


class TestRoundTrip:
    """What write_picks_csv writes, read_picks_csv reads back."""

    @pytest.fixture
    def picks(self):
        rng = np.random.default_rng(4)
        n = 50
        return (32.5 + rng.random(n), 130.6 + 0.1 * rng.random(n), rng.uniform(-5, 300, n),
                T0 + 12.0 + rng.random(n) * 5)

    def test_posix_exact(self, tmp_path, picks):
        """POSIX form: every value bit-exact."""
        write_picks_csv(tmp_path / "p.csv", *picks, time_format="posix")
        for got, want in zip(read_picks_csv(tmp_path / "p.csv"), picks):
            np.testing.assert_array_equal(got, want)

    def test_iso_microsecond(self, tmp_path, picks):
        """ISO form: coordinates exact, times to the microsecond."""
        write_picks_csv(tmp_path / "p.csv", *picks)
        got = read_picks_csv(tmp_path / "p.csv")
        for g, w in zip(got[:3], picks[:3]):
            np.testing.assert_array_equal(g, w)
        np.testing.assert_allclose(got[3], picks[3], atol=0.6e-6, rtol=0)
        assert (tmp_path / "p.csv").read_text().splitlines()[1].endswith("Z")

    def test_scalar_elevation_broadcasts(self, tmp_path):
        """A scalar elevation is written for every pick."""
        write_picks_csv(tmp_path / "p.csv", [32.8, 32.9], [130.6, 130.6], 7.0, [T0, T0 + 1])
        assert read_picks_csv(tmp_path / "p.csv")[2].tolist() == [7.0, 7.0]


class TestTimes:
    """ISO-8601 in any offset and POSIX seconds mean the same instant."""

    @pytest.mark.parametrize("text, want", [
        ("2022-11-01T00:00:12.345Z", T0 + 12.345),
        ("2022-11-01T00:00:12.345+00:00", T0 + 12.345),
        ("2022-11-01T09:00:12.345+09:00", T0 + 12.345),
        ("2022-11-01 00:00:12.345", T0 + 12.345),           # no offset: UTC
        ("2022-11-01T00:00:12Z", T0 + 12.0),
        ("2022-11-01T00:00:12.123456789Z", T0 + 12.123456789),
        ("1667260812.345", T0 + 12.345),
        (" 1667260812 ", T0 + 12.0),
    ])
    def test_parse(self, text, want):
        """Each form parses to the expected POSIX seconds (sub-microsecond digits kept)."""
        assert parse_time(text) == pytest.approx(want, abs=1e-7)

    @pytest.mark.parametrize("text", ["yesterday", "2022-13-01T00:00:00Z", "2022-11-01T25:00:00Z", "nan", "inf", ""])
    def test_parse_rejects(self, text):
        """Garbage, impossible dates and non-finite numbers are refused."""
        with pytest.raises(ValueError):
            parse_time(text)

    def test_format_rounds_up_to_next_second(self):
        """A fraction that rounds to 1e6 microseconds carries into the seconds."""
        assert format_time(T0 + 12.9999996) == "2022-11-01T00:00:13.000000Z"


class TestReading:
    """Header handling, optional and extra columns, comments."""

    def test_optional_elevation_and_extra_columns(self, tmp_path):
        """elev_m defaults to 0; unknown columns are ignored; column order is free."""
        path = _write(tmp_path, "# picks of event 1\nchannel,time,LON,lat,snr\n\n"
                                "10,2022-11-01T00:00:12.5Z,130.6,32.8,12\n11,1667260812.6,130.6,32.81,9\n")
        lat, lon, elev, time = read_picks_csv(path)
        assert lat.tolist() == [32.8, 32.81] and lon.tolist() == [130.6, 130.6]
        assert elev.tolist() == [0.0, 0.0]
        np.testing.assert_allclose(time, [T0 + 12.5, T0 + 12.6])


class TestBadRows:
    """Every problem names the file, the line and the column."""

    @pytest.mark.parametrize("body, words", [
        ("32.8,130.6,0,2022-11-01T00:00:12Z\n32.8,abc,0,1667260812\n", [":3:", "'lon'", "abc"]),
        ("32.8,130.6,0,2022-11-01T00:00:12Z\n32.8,130.6,0,noon\n", [":3:", "'time'", "noon"]),
        ("32.8,130.6,0,2022-11-01T00:00:12Z\n95.0,130.6,0,1667260812\n", [":3:", "'lat'", "outside"]),
        ("32.8,130.6,nan,2022-11-01T00:00:12Z\n", [":2:", "'elev_m'", "not finite"]),
        ("32.8,130.6,0\n", [":2:", "3 fields", "header has 4"]),
    ])
    def test_bad_value(self, tmp_path, body, words):
        """A bad field or row length raises RecordError with its line and column."""
        path = _write(tmp_path, "lat,lon,elev_m,time\n" + body)
        with pytest.raises(RecordError) as info:
            read_picks_csv(path)
        for word in words + [str(path)]:
            assert word in str(info.value)

    @pytest.mark.parametrize("text, word", [
        ("", "empty"),
        ("lat,lon,elev_m,time\n", "no picks"),
        ("lat,lon,elev_m\n32.8,130.6,0\n", "missing column"),
        ("lat,lat,lon,time\n1,2,3,4\n", "duplicated"),
    ])
    def test_bad_file(self, tmp_path, text, word):
        """Empty files, header-only files, missing and duplicated columns are refused."""
        with pytest.raises(RecordError, match=word):
            read_picks_csv(_write(tmp_path, text))

    def test_missing_file(self, tmp_path):
        """A missing file is a RecordError, not a bare OSError."""
        with pytest.raises(RecordError, match="not found"):
            read_picks_csv(tmp_path / "nope.csv")

    def test_bad_time_format_argument(self, tmp_path):
        """write_picks_csv refuses an unknown time format."""
        with pytest.raises(ValueError, match="time_format"):
            write_picks_csv(tmp_path / "p.csv", [1.0], [2.0], [0.0], [T0], time_format="jd")
