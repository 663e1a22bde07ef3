"""Record sections of fiber records with the true arrivals (needs the ``plot`` extra)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from edge.record import read_record


def plot_record(record_path: str | Path, out_path: str | Path, *, clip_percentile: float = 99.5,
                max_channels: int = 2000) -> Path:
    """Draw strain rate vs time and channel distance, with true P and S arrivals overlaid.

    Parameters
    ----------
    record_path : fiber record (.npz or .h5).
    out_path : PNG to write.
    clip_percentile : colour scale saturates at this percentile of |strain rate|.
    max_channels : channels are decimated for drawing beyond this many.
    """
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("plotting needs the 'plot' extra: pip install das-eew[plot]") from exc
    rec = read_record(record_path)
    step = max(1, rec.n_channels // max_channels)
    data = rec.strain_rate[:, ::step]
    t = np.arange(rec.n_samples) / rec.fs
    ch = np.arange(rec.n_channels)[::step]
    finite = np.abs(data[np.isfinite(data)])
    vmax = float(np.percentile(finite, clip_percentile)) if finite.size else 1.0
    fig, ax = plt.subplots(figsize=(11, 6.5), constrained_layout=True)
    im = ax.imshow(data.T, aspect="auto", origin="lower", cmap="seismic", vmin=-vmax, vmax=vmax,
                   extent=(t[0], t[-1] + 1 / rec.fs, ch[0] - 0.5, ch[-1] + 0.5), interpolation="nearest")
    fig.colorbar(im, ax=ax, label="strain rate (1/s)")
    title = Path(record_path).name
    if "json" in rec.truth:
        truth = json.loads(str(rec.truth["json"]))
        for k, ev in enumerate(truth.get("events", [])):
            p = np.asarray(ev["p_arrival"]) - rec.t0
            s = np.asarray(ev["s_arrival"]) - rec.t0
            ax.plot(p[::step], ch, color="lime", lw=1.0, label="true P" if k == 0 else None)
            ax.plot(s[::step], ch, color="orange", lw=1.0, label="true S" if k == 0 else None)
        evs = truth.get("events", [])
        if evs:
            ev = evs[0]
            title += (f"  M{ev['magnitude']:.1f} {ev['kind']} {ev['lat']:.3f}N {ev['lon']:.3f}E "
                      f"{ev['depth_km']:.0f} km")
        if evs or truth.get("loads"):
            ax.legend(loc="upper right")
    ax.set_xlabel(f"time since {rec.t0:.2f} (s)")
    ax.set_ylabel("channel")
    ax.set_xlim(t[0], t[-1])
    ax.set_title(title)
    out_path = Path(out_path)
    fig.savefig(out_path, dpi=110)
    plt.close(fig)
    return out_path
