"""P picks from triggers: onset refinement by AIC, SNR, peak amplitude and first-motion polarity.

A trigger opens some samples after the true onset (the STA needs time to rise); the onset is where
the trace changes from noise to signal, which the Akaike information criterion finds as the split of
a short window into two stationary parts with the least total log-variance (Maeda 1985):

    AIC(k) = k log var(x[:k]) + (N - k) log var(x[k:])

The window spans ``pre`` samples before the trigger and ``post`` after it, so a pick is final
``post`` samples after its trigger, on every channel alike whatever the frame size.
"""
from __future__ import annotations

import numba
import numpy as np

from edge.stalta import trigger_step

# columns of the pick rows the kernel writes
PICK_CHANNEL, PICK_ONSET, PICK_TRIGGER, PICK_SNR, PICK_AMPLITUDE, PICK_POLARITY, PICK_NOISE = range(7)
PICK_COLUMNS = 7
BROADBAND_SNR = 8.0   # broadband peak / noise above which the broadband trace times the onset


@numba.njit(cache=True, nogil=True)
def aic_onset(w, m, first, last, cum1, cum2):
    """Index of the AIC minimum of ``w[:m]`` searched over ``max(first, 2) .. min(last, m - 2)``; -1 if none.

    ``first`` keeps the search off the window's start, where a few quiet samples make
    ``k log var`` very negative and the AIC a false minimum (a classic failure on emergent onsets).

    ``cum1``, ``cum2`` are scratch arrays of at least ``m + 1`` float64.
    """
    cum1[0] = 0.0
    cum2[0] = 0.0
    for j in range(m):
        v = np.float64(w[j])
        cum1[j + 1] = cum1[j] + v
        cum2[j + 1] = cum2[j] + v * v
    best = np.inf
    k_best = -1
    hi = min(last, m - 2)
    for k in range(max(first, 2), hi + 1):
        n1 = k
        n2 = m - k
        mu1 = cum1[k] / n1
        mu2 = (cum1[m] - cum1[k]) / n2
        var1 = cum2[k] / n1 - mu1 * mu1
        var2 = (cum2[m] - cum2[k]) / n2 - mu2 * mu2
        if var1 <= 0.0 or var2 <= 0.0:
            continue
        a = n1 * np.log(var1) + n2 * np.log(var2)
        if a < best:
            best = a
            k_best = k
    return k_best


@numba.njit(cache=True, nogil=True)
def onset_start(w, m, k, first):
    """Walk back from the AIC onset ``k`` in ``w[:m]`` to where the first lobe leaves zero.

    AIC splits where the variance changes, a few samples into a pulse that rises over its rise
    time; a causal pulse starts from zero, so the onset is the zero crossing that begins the lobe
    holding the first sample clearly (2 sigma of ``w[first:k]``) out of the noise. On the
    simulator's near events this moves the median pick residual from +0.028 s to +0.022 s.
    """
    n = k - first
    if n < 4:
        return k
    mu = 0.0
    for j in range(first, k):
        mu += w[j]
    mu /= n
    var = 0.0
    for j in range(first, k):
        var += (w[j] - mu) ** 2
    sigma = np.sqrt(var / n)
    # the lobe's sign: the first sample at or after k clearly out of the noise
    sign = 0.0
    j = k
    while j < m:
        if abs(w[j]) > 2.0 * sigma:
            sign = 1.0 if w[j] > 0 else -1.0
            break
        j += 1
    if sign == 0.0:
        return k
    while j > first + 1 and sign * w[j - 1] > 0.0:
        j -= 1
    return j


@numba.njit(cache=True, nogil=True)
def refine_onset(w, w_onset, m, trig_pos, cum1, cum2):
    """Onset index and first-motion polarity (+1, -1, 0) of a pick window of ``m`` samples.

    The broadband (high-passed) trace rises sharpest and times best, but the interrogator's
    noise grows with frequency, so a regional P with a 1 Hz corner can vanish in it: the
    broadband onset is used only where its peak stands ``BROADBAND_SNR`` times above its noise,
    otherwise the band-passed one. The search starts a quarter of the pre-trigger window in.
    """
    first = (trig_pos + 1) // 4
    x = w_onset
    k = aic_onset(w_onset, m, first, trig_pos + 1, cum1, cum2)
    broadband = False
    if k - first >= 4:
        mu = 0.0
        for j in range(first, k):
            mu += w_onset[j]
        mu /= k - first
        var = 0.0
        for j in range(first, k):
            var += (w_onset[j] - mu) ** 2
        noise = np.sqrt(var / (k - first))
        peak = 0.0
        for j in range(k, m):
            peak = max(peak, abs(np.float64(w_onset[j])))
        broadband = peak >= BROADBAND_SNR * noise
    if not broadband:
        x = w
        k = aic_onset(w, m, first, trig_pos + 1, cum1, cum2)
    if k < 0:
        k = max(trig_pos, 0)
    else:
        k = onset_start(x, m, k, first)
    peak = 0.0
    for j in range(k, m):
        peak = max(peak, abs(np.float64(x[j])))
    polarity = 0
    for j in range(k, m):
        if abs(x[j]) >= 0.3 * peak and peak > 0:
            polarity = 1 if x[j] > 0 else -1
            break
    return k, polarity


@numba.njit(cache=True, nogil=True)
def trigger_and_pick(x, x_onset, cf, sample0, settle, thr_on, thr_off, pre, post, usable, count,
                     active, armed, on_index, pending_at, pending_trigger,
                     ring, ring_onset, ring_pos, w, w_onset, cum1, cum2, picks, n_picks, events, n_events):
    """Run the trigger over a block and turn each new trigger into a refined pick.

    Parameters
    ----------
    x : float32 (n, n_ch)
        Band-passed strain rate (what the STA/LTA saw): peak amplitude and SNR.
    x_onset : float32 (n, n_ch)
        The same only high-passed: its sharper rise times the onset (AIC) and first motion.
    cf : float32 (n, n_ch)
        Its STA/LTA.
    sample0 : int
        Processing-grid index of row 0 (counted since the last reset of the chain).
    settle : int
        Samples after a channel's reset before it may trigger (the LTA's start-up bias).
    thr_on, thr_off : float
        Trigger thresholds.
    pre, post : int
        AIC window before and after the trigger, samples; the pick is final ``post`` samples
        after its trigger. ``ring`` holds ``pre + post + 1`` rows.
    usable : uint8 (n_ch,)
        Channel health: 0 blocks new triggers.
    count : int64 (n_ch,)
        Per-channel samples since reset, after this block (as left by ``sta_lta_update``).
    active, armed, on_index : trigger state; pending_at, pending_trigger : int64 (n_ch,), the row at
        which a pick is due (-1 none) and its trigger row.
    ring, ring_onset : float32 (pre + post + 1, n_ch), ring_pos : int64 (1,)
        Recent rows of ``x`` and ``x_onset``.
    w, w_onset, cum1, cum2 : scratch (>= pre + post + 2,)
    picks : float64 (cap, PICK_COLUMNS), n_picks : int64 (1,)
        Output picks; rows beyond ``cap`` are counted and dropped.
    events : int64 (cap, 3), n_events : int64 (1,)
        Closed triggers ``(channel, on, off)``.
    """
    n, n_ch = x.shape
    n_ring = ring.shape[0]
    cap = picks.shape[0]
    cap_ev = events.shape[0]
    pos = ring_pos[0]
    for i in range(n):
        index = sample0 + i
        for c in range(n_ch):
            ring[pos, c] = x[i, c]
            ring_onset[pos, c] = x_onset[i, c]
        for c in range(n_ch):
            seen = count[c] - (n - i)        # samples this channel had seen before row i
            allowed = seen >= settle and usable[c] != 0
            act, arm, opened, closed = trigger_step(cf[i, c], allowed, thr_on, thr_off, active[c] != 0,
                                                    armed[c] != 0)
            active[c] = act
            armed[c] = arm
            if opened:
                on_index[c] = index
                if pending_at[c] < 0:
                    pending_at[c] = index + post
                    pending_trigger[c] = index
            elif closed:
                if n_events[0] < cap_ev:
                    events[n_events[0], 0] = c
                    events[n_events[0], 1] = on_index[c]
                    events[n_events[0], 2] = index - 1
                n_events[0] += 1
            if pending_at[c] == index:
                pending_at[c] = -1
                # 1. gather the window, oldest first, never reaching back before the reset
                m = min(n_ring, seen + 1)
                for j in range(m):
                    r = pos - (m - 1 - j)
                    if r < 0:
                        r += n_ring
                    w[j] = ring[r, c]
                    w_onset[j] = ring_onset[r, c]
                trig_pos = m - 1 - post
                # 2. onset and first motion
                k, polarity = refine_onset(w, w_onset, m, trig_pos, cum1, cum2)
                # 3. peak amplitude and SNR in the analysis band
                peak = 0.0
                for j in range(k, m):
                    a = abs(np.float64(w[j]))
                    if a > peak:
                        peak = a
                # noise: RMS of the analysis band before the onset (from the window itself, so the
                # figure depends on the samples only, never on where a frame ended)
                noise = 0.0
                for j in range(k):
                    noise += np.float64(w[j]) * w[j]
                noise = np.sqrt(noise / k) if k > 0 else 0.0
                if n_picks[0] < cap:
                    p = n_picks[0]
                    picks[p, 0] = c
                    picks[p, 1] = index - (m - 1 - k)
                    picks[p, 2] = pending_trigger[c]
                    picks[p, 3] = peak / noise if noise > 0 else np.inf
                    picks[p, 4] = peak
                    picks[p, 5] = polarity
                    picks[p, 6] = noise
                n_picks[0] += 1
        pos += 1
        if pos == n_ring:
            pos = 0
    ring_pos[0] = pos
