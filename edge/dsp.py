"""Streaming DSP kernels of the detection chain: channel stacking, anti-alias decimation, band-pass.

Every kernel works on time-major blocks ``(n_samples, n_channels)`` (the record and stream layout),
so the inner loop runs over contiguous channels and vectorises; every kernel carries its state in
preallocated arrays, so a stream cut into frames of any size gives bit-identical output.
"""
from __future__ import annotations

import numba
import numpy as np
from scipy.signal import butter, firwin, kaiser_beta

from edge.exceptions import ConfigError


def decimation_fir(factor: int, *, fs_hz: float, pass_hz: float, atten_db: float = 60.0) -> np.ndarray:
    """Linear-phase low-pass FIR for decimating by ``factor`` (float32 taps, odd length).

    Only aliases that fold into the analysis band ``0..pass_hz`` matter, so the stop band starts at
    ``fs_out - pass_hz`` rather than at the output Nyquist: a 1 kHz -> 100 Hz decimator for a
    10 Hz band needs ~45 taps instead of ~200.

    Parameters
    ----------
    factor : int
        Decimation factor (>= 1); 1 returns the identity ``[1.0]``.
    fs_hz : float
        Input sampling rate, Hz.
    pass_hz : float
        Highest frequency that must pass undistorted, Hz.
    atten_db : float
        Stop-band attenuation, dB.
    """
    if factor < 1:
        raise ConfigError(f"decimation factor must be >= 1, got {factor}")
    if factor == 1:
        return np.ones(1, dtype=np.float32)
    fs_out = fs_hz / factor
    stop_hz = fs_out - pass_hz
    if not 0 < pass_hz < stop_hz:
        raise ConfigError(f"band edge {pass_hz} Hz is too close to the output rate {fs_out} Hz")
    width = (stop_hz - pass_hz) / (0.5 * fs_hz)
    numtaps = int(np.ceil((atten_db - 7.95) / (2.285 * np.pi * width))) + 1
    numtaps += 1 - numtaps % 2
    taps = firwin(numtaps, 0.5 * (pass_hz + stop_hz), window=("kaiser", kaiser_beta(atten_db)), fs=fs_hz)
    return taps.astype(np.float32)


def bandpass_sos(low_hz: float, high_hz: float, *, fs_hz: float, order: int = 2) -> np.ndarray:
    """Butterworth band-pass as second-order sections (``order`` poles per band edge).

    Causal on purpose: a zero-phase filter would smear the onset backwards in time.
    """
    if not 0 < low_hz < high_hz < 0.5 * fs_hz:
        raise ConfigError(f"band {low_hz}-{high_hz} Hz must lie within 0..{0.5 * fs_hz} Hz")
    return butter(order, [low_hz, high_hz], btype="bandpass", fs=fs_hz, output="sos")


@numba.njit(cache=True, nogil=True, error_model="numpy")
def ingest_decimate(x, stack, taps, ring, ring_pos, raw_count, factor, out, clean, h_sum, h_sumsq, h_n,
                    h_bad, h_absmax, h_n_at_max):
    """Stack, check and decimate a raw block; return the number of output rows written.

    Parameters
    ----------
    x : float32 (n, n_raw)
        Raw strain rate, time-major. Non-finite samples enter the chain as 0 and are counted.
    stack : int
        Adjacent raw channels averaged into one processing channel (n_raw >= stack * n_ch).
    taps : float32 (L,)
        Decimation FIR.
    ring : float32 (L, n_ch)
        The last L stacked input rows (state).
    ring_pos, raw_count : int64 (1,)
        Next ring row to write; stacked rows seen since the last reset (state).
    factor : int
        Decimation factor; an output row is due after every ``factor`` input rows.
    out : float32 (>= n // factor + 1, n_ch)
        Decimated rows.
    clean : float32 (>= stack * n_ch,)
        Scratch for one sanitised raw row.
    h_sum, h_sumsq : float64 (n_ch,)
        Running sum and sum of squares of the stacked samples (channel health).
    h_n, h_bad : int64 (n_ch,)
        Samples in those sums; non-finite samples seen (every sample is checked).
    h_absmax : float64 (n_ch,), h_n_at_max : int64 (n_ch,)
        Largest |sample| and how many samples reached it exactly (clipping shows as a flat top).

    Notes
    -----
    The health sums take one stacked row per output row (every ``factor``-th): hundreds of
    samples a window are plenty for a standard deviation or a flat top, and summing every raw
    sample cost more than the rest of the kernel together.
    """
    n = x.shape[0]
    n_ch = ring.shape[1]
    n_taps = taps.shape[0]
    inv = np.float32(1.0 / stack)
    zero = np.float32(0.0)
    n_out = 0
    pos = ring_pos[0]
    for i in range(n):
        # 1. stack and sanitise: NaN/Inf must never reach a recursive filter (it would stay NaN)
        r = ring[pos]
        if stack == 1:
            for c in range(n_ch):
                v = x[i, c]
                ok = np.isfinite(v)
                r[c] = v if ok else zero
                h_bad[c] += 0 if ok else 1
        else:
            # clean the raw row in one contiguous pass, then sum each group; the per-channel bad
            # count is redone only for the rare rows that had a bad sample
            n_bad = 0
            for k in range(n_ch * stack):
                v = x[i, k]
                ok = np.isfinite(v)
                clean[k] = v if ok else zero
                n_bad += 0 if ok else 1
            for c in range(n_ch):
                acc = zero
                for s in range(stack):
                    acc += clean[c * stack + s]
                r[c] = acc * inv
            if n_bad:
                for c in range(n_ch):
                    for s in range(stack):
                        if not np.isfinite(x[i, c * stack + s]):
                            h_bad[c] += 1
        raw_count[0] += 1
        if raw_count[0] % factor == 0:
            # 2. health sums, branch-free so that the channel loop vectorises
            for c in range(n_ch):
                d = np.float64(r[c])
                h_sum[c] += d
                h_sumsq[c] += d * d
                a = abs(d)
                m = h_absmax[c]
                h_n_at_max[c] = 1 if a > m else (h_n_at_max[c] + 1 if a == m else h_n_at_max[c])
                h_absmax[c] = a if a > m else m
                h_n[c] += 1
            # 3. the output row: FIR over the ring, newest row first
            o = out[n_out]
            for c in range(n_ch):
                o[c] = zero
            for k in range(n_taps):
                j = pos - k
                if j < 0:
                    j += n_taps
                hk = taps[k]
                rk = ring[j]
                for c in range(n_ch):
                    o[c] += hk * rk[c]
            n_out += 1
        pos += 1
        if pos == n_taps:
            pos = 0
    ring_pos[0] = pos
    return n_out


@numba.njit(cache=True, nogil=True)
def sosfilt_rows(x, sos, zi, v):
    """Filter rows of ``x`` (n, n_ch) in place with second-order sections; state ``zi`` (n_sec, 2, n_ch),
    scratch ``v`` float64 (n_ch,).

    Transposed direct form II, as ``scipy.signal.sosfilt``, with float64 state so that narrow bands
    at low frequency stay exact. Sections run one after the other over a whole row so that the
    loop over channels vectorises.
    """
    n, n_ch = x.shape
    n_sec = sos.shape[0]
    for i in range(n):
        for c in range(n_ch):
            v[c] = x[i, c]
        for s in range(n_sec):
            b0, b1, b2 = sos[s, 0], sos[s, 1], sos[s, 2]
            a1, a2 = sos[s, 4], sos[s, 5]
            z0 = zi[s, 0]
            z1 = zi[s, 1]
            for c in range(n_ch):
                xc = v[c]
                y = b0 * xc + z0[c]
                z0[c] = b1 * xc - a1 * y + z1[c]
                z1[c] = b2 * xc - a2 * y
                v[c] = y
        for c in range(n_ch):
            x[i, c] = v[c]
