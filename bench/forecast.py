"""``python -m bench.forecast``: the yearly forecast at central, all regions, wall time.

Central's whole ``forecast_year`` (indicators and map patches of the last 10 years from a 60-year
synthetic catalog of ~150,000 events, onnxruntime on one thread) for the shipped SafeNet model and its
synthetic region, best of ``--repeat`` runs; side by side in the same run: the smoothed-seismicity
Poisson forecast and the generating ETAS model's expected counts for the same year (peers a
seismologist would run instead). Target (issue 8): <= 5 s for all regions.
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path


def _best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.forecast", description=__doc__.split("\n\n")[0])
    p.add_argument("--year", type=int, default=2020)
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args(argv)
    from central.forecast import SHIPPED_MODEL, ForecastSettings, forecast_year
    from models.safenet.baselines import make_baseline
    from models.safenet.catalog import MagnitudeClasses, RegionGrid, read_catalog_csv
    from sim.catalogs import write_synthetic_dataset
    card = json.loads(SHIPPED_MODEL.with_suffix(".card.json").read_text())
    with tempfile.TemporaryDirectory() as tmp:
        region = Path(tmp) / "region"
        # the shipped model's region (region seed 0), a catalog it was not trained on (seed 7)
        write_synthetic_dataset(region, seed=7, region_seed=0, years=args.year - 1960, start_year=1960)
        catalog = read_catalog_csv(region / "catalog.csv")
        settings = ForecastSettings(maps=str(region / "maps.npz"))
        forecast_year(args.year, catalog, settings)                    # warm-up: imports, sessions
        safenet = _best(lambda: forecast_year(args.year, catalog, settings), args.repeat)
        grid = RegionGrid.from_dict(card["forecast"]["grid"])
        classes = MagnitudeClasses()
        poisson = make_baseline("poisson")
        t_poisson = _best(lambda: poisson.probabilities(catalog, grid, classes, args.year), args.repeat)
        etas = make_baseline("etas_true", dataset=region)
        t = time.perf_counter()
        etas.probabilities(catalog, grid, classes, args.year)
        t_etas_first = time.perf_counter() - t
        t_etas = _best(lambda: etas.probabilities(catalog, grid, classes, args.year), args.repeat)
    print(f"forecast of {grid.regions.size} regions for {args.year} from {len(catalog)} events (1 thread):")
    print(f"  SafeNet at central (indicators, patches, onnxruntime): {safenet:.2f} s  (target <= 5 s)")
    print(f"  smoothed-seismicity Poisson: {t_poisson:.2f} s;  generating ETAS: {t_etas_first:.1f} s first year "
          f"(space integrals of every event), then {t_etas:.2f} s")
    print(json.dumps({"regions": int(grid.regions.size), "events": len(catalog), "safenet_s": round(safenet, 3),
                      "poisson_s": round(t_poisson, 3), "etas_true_first_s": round(t_etas_first, 2),
                      "etas_true_s": round(t_etas, 3)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
