"""Recursive STA/LTA and trigger: parity with ObsPy on its shipped real recordings."""
from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from edge.exceptions import ConfigError
from edge.stalta import recursive_sta_lta, sta_lta_update, trigger_onset, trigger_update

obspy = pytest.importorskip("obspy", reason="ObsPy (test extra) provides the reference and the real recordings")
from obspy.signal.trigger import recursive_sta_lta as obspy_recursive  # noqa: E402
from obspy.signal.trigger import trigger_onset as obspy_onset  # noqa: E402

DATA = Path(obspy.__file__).parent / "signal" / "tests" / "data"


def _rjob() -> np.ndarray:
    return np.loadtxt(DATA / "loc_RJOB20050801145719850.z", dtype=np.float32)


def _manz() -> np.ndarray:
    with gzip.open(DATA / "manz_waldk.a01.gz") as fh:
        return np.loadtxt(fh, dtype=np.float32)


def _uh1() -> np.ndarray:
    st = obspy.read(str(DATA / "BW.UH1._.SHZ.D.2010.147.cut.slist.gz"))
    st.filter("bandpass", freqmin=10, freqmax=20)
    return st[0].data.astype(np.float32)


# (loader, nsta, nlta, trigger thresholds to compare, expected argmax and max from ObsPy's own tests)
RECORDINGS = {
    "RJOB": (_rjob, 100, 2000, [(3.5, 1.0), (2.5, 0.5), (8.0, 2.0)], 6147, 18.0055673),
    "manz_waldk": (_manz, 100, 2000, [(3.5, 1.0), (5.0, 1.5), (10.0, 3.0)], 17615, 15.1980136),
    "UH1 10-20 Hz": (_uh1, 25, 500, [(3.5, 1.0), (2.0, 1.5), (10.0, 1.0)], 1491, 19.6221714),
}


def _streamed_cf(x: np.ndarray, nsta: int, nlta: int, n_copies: int, rng) -> np.ndarray:
    """The trace on ``n_copies`` channels, fed to the streaming kernel in random frame sizes."""
    block = np.repeat(x[:, None], n_copies, axis=1).astype(np.float32)
    cf = np.empty(block.shape, dtype=np.float64)
    sta, lta, count = np.zeros(n_copies), np.zeros(n_copies), np.zeros(n_copies, np.int64)
    i = 0
    while i < len(block):
        n = int(rng.integers(1, 700))
        sta_lta_update(block[i:i + n], nsta, nlta, sta, lta, count, cf[i:i + n])
        i += n
    return cf


@pytest.mark.parametrize("name", list(RECORDINGS))
class TestObspyParity:
    def test_characteristic_function(self, name):
        """Our CF equals ObsPy's recursive_sta_lta to 1e-6 relative after the first nlta samples."""
        load, nsta, nlta, _, argmax, peak = RECORDINGS[name]
        x = load()
        ref = obspy_recursive(x, nsta, nlta)
        ours = recursive_sta_lta(x, nsta, nlta)
        assert np.all(ours[:nlta] == 0) and np.all(ref[:nlta] == 0)
        rel = np.abs(ours[nlta:] - ref[nlta:]) / np.abs(ref[nlta:])
        assert rel.max() < 1e-6
        assert int(np.argmax(ours)) == argmax
        assert ours.max() == pytest.approx(peak, rel=1e-6)

    def test_streaming_kernel_any_frames(self, name):
        """The multi-channel streaming kernel in random frames gives the same CF on every channel."""
        load, nsta, nlta, _, _, _ = RECORDINGS[name]
        x = load()
        ref = obspy_recursive(x, nsta, nlta)
        cf = _streamed_cf(x, nsta, nlta, 3, np.random.default_rng(1))
        for c in range(3):
            assert np.max(np.abs(cf[nlta:, c] - ref[nlta:]) / ref[nlta:]) < 1e-6

    def test_trigger_onset(self, name):
        """On/off sample pairs equal ObsPy's trigger_onset, whole-trace and streamed in frames."""
        load, nsta, nlta, thresholds, _, _ = RECORDINGS[name]
        ref_cf = obspy_recursive(load(), nsta, nlta)
        rng = np.random.default_rng(2)
        for on, off in thresholds:
            expected = np.asarray(obspy_onset(ref_cf, on, off), dtype=np.int64).reshape(-1, 2)
            assert np.array_equal(trigger_onset(ref_cf, on, off), expected)
            # streamed: trigger state carried between frames of random size
            cf2 = ref_cf.reshape(-1, 1)
            active, armed = np.zeros(1, np.int8), np.ones(1, np.int8)
            on_index = np.zeros(1, np.int64)
            events = np.zeros((len(ref_cf), 3), np.int64)
            n_events = np.zeros(1, np.int64)
            count = np.zeros(1, np.int64)
            i = 0
            while i < len(cf2):
                n = int(rng.integers(1, 500))
                frame = cf2[i:i + n]
                count += len(frame)
                trigger_update(frame, i, 0, on, off, count, active, armed, on_index, events, n_events)
                i += len(frame)
            got = events[: n_events[0], 1:]
            if active[0]:
                got = np.vstack([got, [[on_index[0], len(ref_cf) - 1]]])
            assert np.array_equal(got, expected), (on, off)


def test_random_trace_reference_values():
    """ObsPy's random-trace check (seed 815, nsta=5, nlta=10) and the plain-Python twin agree."""
    x = np.random.RandomState(815).standard_normal(100_000)
    cf = recursive_sta_lta(x, 5, 10)
    np.testing.assert_allclose(cf[99:103], [0.80810165, 0.75939449, 0.91763978, 0.97465004], rtol=1e-7)
    a = x[:3000].reshape(-1, 1)
    twin = np.empty_like(a)
    sta_lta_update.py_func(a, 5, 10, np.zeros(1), np.zeros(1), np.zeros(1, np.int64), twin)
    np.testing.assert_allclose(twin[:, 0], cf[:3000], rtol=1e-12)


def test_triggers_at_the_first_sample_and_at_the_end():
    """Runs starting at sample 0 and still open at the end close as ObsPy closes them."""
    cf = np.array([5.0, 5.0, 0.5, 0.5, 4.0, 6.0, 2.0, 0.2, 3.0, 9.0, 9.0])
    expected = np.asarray(obspy_onset(cf, 3.5, 1.0)).reshape(-1, 2)
    assert np.array_equal(trigger_onset(cf, 3.5, 1.0), expected)
    assert trigger_onset(np.zeros(10), 3.5, 1.0).shape == (0, 2)


def test_bad_windows_and_thresholds():
    """Windows must satisfy 1 <= nsta < nlta; the off threshold may not exceed the on threshold."""
    with pytest.raises(ConfigError):
        recursive_sta_lta(np.zeros(10), 10, 5)
    with pytest.raises(ConfigError):
        recursive_sta_lta(np.zeros(10), 0, 5)
    with pytest.raises(ConfigError):
        trigger_onset(np.zeros(10), 1.0, 2.0)


def test_zero_signal_gives_zero_not_nan():
    """A dead (all-zero) channel gives cf = 0, never NaN."""
    cf = recursive_sta_lta(np.zeros(5000), 10, 100)
    assert np.all(cf == 0)
