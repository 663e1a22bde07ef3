"""Recursive STA/LTA and the trigger on/off state machine, streaming over many channels.

The characteristic function follows ObsPy's ``recursive_sta_lta`` (its C ``recstalta``) exactly:
with ``csta = 1/nsta`` and ``clta = 1/nlta``, for every sample after the first

    sta = csta a**2 + (1 - csta) sta
    lta = clta a**2 + (1 - clta) lta
    cf  = sta / lta

and ``cf`` is reported as 0 for the first ``nlta`` samples. The trigger follows ObsPy's
``trigger_onset``: on at the first sample of a run with ``cf >= on``, off at the last sample still
``>= off``. Both keep their state per channel, so a stream gives the same answer in frames of any
size.

Examples
--------
>>> import numpy as np
>>> x = np.random.RandomState(815).standard_normal(100_000)
>>> cf = recursive_sta_lta(x, 5, 10)
>>> bool(np.all(cf[:10] == 0)) and bool(np.isclose(cf[99], 0.80810165))
True
"""
from __future__ import annotations

import numba
import numpy as np

from edge.exceptions import ConfigError


@numba.njit(cache=True, nogil=True, error_model="numpy")
def sta_lta_update(x, nsta, nlta, sta, lta, count, cf):
    """Advance the recursive STA/LTA of every channel over a block; write its ratio to ``cf``.

    Parameters
    ----------
    x : float (n, n_ch)
        Samples, time-major (band-passed strain rate on the edge).
    nsta, nlta : int
        Short and long window lengths, samples.
    sta, lta : float64 (n_ch,)
        Running averages of x**2 (state).
    count : int64 (n_ch,)
        Samples seen by each channel since its last reset (state); 0 restarts a channel.
    cf : float32 or float64 (n, n_ch)
        Output characteristic function.
    """
    n, n_ch = x.shape
    csta = 1.0 / nsta
    clta = 1.0 / nlta
    icsta = 1.0 - csta
    iclta = 1.0 - clta
    steady = True
    for c in range(n_ch):
        if count[c] < nlta:
            steady = False
            break
    if steady:
        # every channel past its first nlta samples (the usual case): no per-sample bookkeeping
        for i in range(n):
            for c in range(n_ch):
                v = np.float64(x[i, c])
                v2 = v * v
                s = csta * v2 + icsta * sta[c]
                lt = clta * v2 + iclta * lta[c]
                sta[c] = s
                lta[c] = lt
                cf[i, c] = s / lt if lt > 0.0 else 0.0
        for c in range(n_ch):
            count[c] += n
        return
    for i in range(n):
        for c in range(n_ch):
            k = count[c]
            v = np.float64(x[i, c])
            v2 = v * v
            # ObsPy never uses a[0]: the first sample of a run leaves the averages at 0
            s = csta * v2 + icsta * sta[c] if k > 0 else sta[c]
            lt = clta * v2 + iclta * lta[c] if k > 0 else lta[c]
            sta[c] = s
            lta[c] = lt
            cf[i, c] = s / lt if (k >= nlta and lt > 0.0) else 0.0
            count[c] = k + 1


@numba.njit(inline="always")
def trigger_step(cf_value, allowed, thr_on, thr_off, active, armed):
    """One sample of a channel's trigger state machine: return ``(active, armed, opened, closed)``.

    1. An open trigger closes at the first sample below ``thr_off``; its off index is the sample
       before (ObsPy: the last sample still ``>= thr_off``).
    2. A closed trigger opens at a sample ``>= thr_on`` when the channel is ``allowed`` (settled and
       healthy) and armed; the same sample cannot both close and open a trigger since
       ``thr_off <= thr_on``.
    3. A channel is armed by an allowed sample below ``thr_off``, i.e. once it has been quiet: a
       channel that is still loud when it becomes allowed (the end of the start-up suppression
       beside a passing train) waits for quiet and a fresh rise instead of triggering in step with
       all its neighbours. After a trigger closes the channel is quiet, so this is ObsPy's rule.

    Scalars in and out: passing arrays to a Numba function in the inner loop costs reference
    counting per call, which made the channel loop 7x slower.
    """
    opened = False
    closed = False
    if active:
        if cf_value < thr_off:
            active = False
            closed = True
    elif allowed:
        if cf_value < thr_on:
            armed = True
        elif armed:
            active = True
            opened = True
    return active, armed, opened, closed


@numba.njit(cache=True, nogil=True)
def trigger_update(cf, sample0, settle, thr_on, thr_off, count, active, armed, on_index, events, n_events):
    """Run the trigger over a block of ``cf`` (n, n_ch); append closed triggers to ``events``.

    Parameters
    ----------
    cf : float (n, n_ch)
        Characteristic function.
    sample0 : int
        Stream index of ``cf[0]`` (the indices reported in ``events``).
    settle : int
        Samples after a channel's reset before it may trigger (``count`` is the per-channel
        sample count *after* this block, as left by :func:`sta_lta_update`).
    active, armed : int8 (n_ch,), on_index : int64 (n_ch,)
        Trigger state.
    events : int64 (cap, 3)
        Output rows ``(channel, on_index, off_index)``; ``n_events`` (int64 (1,)) counts them and
        rows beyond ``cap`` are counted but dropped.
    """
    n, n_ch = cf.shape
    cap = events.shape[0]
    for i in range(n):
        for c in range(n_ch):
            allowed = count[c] - (n - i) >= settle
            act, arm, opened, closed = trigger_step(cf[i, c], allowed, thr_on, thr_off, active[c] != 0,
                                                    armed[c] != 0)
            active[c] = act
            armed[c] = arm
            if opened:
                on_index[c] = sample0 + i
            elif closed:
                if n_events[0] < cap:
                    events[n_events[0], 0] = c
                    events[n_events[0], 1] = on_index[c]
                    events[n_events[0], 2] = sample0 + i - 1
                n_events[0] += 1


def recursive_sta_lta(x: np.ndarray, nsta: int, nlta: int) -> np.ndarray:
    """Recursive STA/LTA of one trace, as ``obspy.signal.trigger.recursive_sta_lta`` (float64).

    Parameters
    ----------
    x : array_like (n,)
        Trace.
    nsta, nlta : int
        Short and long windows, samples (``1 <= nsta < nlta``).
    """
    check_windows(nsta, nlta)
    a = np.ascontiguousarray(x, dtype=np.float64).reshape(-1, 1)
    cf = np.empty_like(a)
    sta_lta_update(a, nsta, nlta, np.zeros(1), np.zeros(1), np.zeros(1, np.int64), cf)
    return cf[:, 0]


def trigger_onset(cf: np.ndarray, thr_on: float, thr_off: float) -> np.ndarray:
    """Trigger on/off sample pairs of one trace, as ``obspy.signal.trigger.trigger_onset``.

    A trigger still open at the end closes at the last sample. Returns int64 (n_triggers, 2).
    """
    if not thr_off <= thr_on:
        raise ConfigError(f"trigger off threshold {thr_off} must not exceed the on threshold {thr_on}")
    c = np.ascontiguousarray(cf, dtype=np.float64).reshape(-1, 1)
    n = c.shape[0]
    events = np.zeros((n // 2 + 2, 3), np.int64)
    n_events = np.zeros(1, np.int64)
    active = np.zeros(1, np.int8)
    armed = np.ones(1, np.int8)     # ObsPy triggers on a run that starts at sample 0
    on_index = np.zeros(1, np.int64)
    trigger_update(c, 0, 0, thr_on, thr_off, np.full(1, n, np.int64), active, armed, on_index, events, n_events)
    out = events[: n_events[0], 1:].copy()
    if active[0]:
        out = np.vstack([out, [[on_index[0], n - 1]]])
    return out


def check_windows(nsta: int, nlta: int) -> None:
    """Raise ConfigError unless ``1 <= nsta < nlta`` (samples)."""
    if not (int(nsta) == nsta and int(nlta) == nlta and 1 <= nsta < nlta):
        raise ConfigError(f"STA/LTA windows must satisfy 1 <= nsta < nlta (samples), got {nsta}, {nlta}")
