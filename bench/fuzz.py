"""``python -m bench.fuzz [--per-decoder 100000] [--jobs 2]``: the fuzz suite (``tests/fuzz``) at length.

The suite is run in groups, one per decoder family (config, serial frames, wire messages, stream
frames, fiber records), each in its own ``pytest -q -s -p no:cacheprovider`` subprocess, ``--jobs`` at
a time, with random (not the CI's replayed) examples and a printed ``--hypothesis-seed`` so that any
failure can be rerun. A group's tests share the decoder's budget: a short pilot run measures how many
inputs each decoder gets per unit of ``FUZZ_EXAMPLES``, and the full run is sized so that every decoder
of the group gets at least ``--per-decoder`` inputs (``--examples N`` instead sets ``FUZZ_EXAMPLES``
per test directly, with no pilot).

Printed: one row per decoder from the ``FUZZ <decoder> inputs=<n> valid=<a> rejected=<r>`` lines the
fuzz modules print: inputs, valid, rejected and escaped (inputs - valid - rejected: exceptions other
than the decoder's own error), then the totals, the wall time and the verdict. A non-zero pytest exit
means something escaped; its output is printed and the exit code passed on. Not part of
``python -m bench`` (the speed benchmarks).
"""
from __future__ import annotations

import argparse
import math
import os
import random
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# decoder families: the tests that feed each (names as the FUZZ lines report them)
GROUPS = {
    "config_table": ["tests/fuzz/test_fuzz_config.py::test_config_tables"],
    "config_file": ["tests/fuzz/test_fuzz_config.py::test_config_files"],
    "serial": ["tests/fuzz/test_fuzz_decoders.py::test_serial_decoder"],
    "wire": ["tests/fuzz/test_fuzz_decoders.py::test_wire_decoder", "tests/fuzz/test_fuzz_wire.py"],
    "stream": ["tests/fuzz/test_fuzz_decoders.py::test_stream_decoder", "tests/fuzz/test_fuzz_stream.py"],
    "record": ["tests/fuzz/test_fuzz_record.py"],
}
# decoders that several modules report under two names (one family, one budget)
FAMILY = {"wire_message": "wire", "wire.decode_message": "wire", "stream_frame": "stream",
          "stream.decode_stream_frame": "stream", "serial_frame": "serial"}
PILOT = 200
LINE = re.compile(r"^FUZZ (\S+) inputs=(\d+) valid=(\d+) rejected=(\d+)\s*$", re.MULTILINE)


def parse(output: str) -> dict[str, list[int]]:
    """Sum the FUZZ lines of ``output`` per decoder: ``{decoder: [inputs, valid, rejected]}``."""
    rows: dict[str, list[int]] = {}
    for name, *counts in LINE.findall(output):
        row = rows.setdefault(name, [0, 0, 0])
        for i, c in enumerate(counts):
            row[i] += int(c)
    return rows


def table(rows: dict[str, list[int]], wall_s: float, examples: int, seed: int, returncode: int) -> str:
    """The report: one row per decoder, then the totals and the verdict."""
    width = max([len("decoder")] + [len(n) for n in rows])
    out = [f"fuzz: FUZZ_EXAMPLES up to {examples} per test, hypothesis seed {seed}, wall {wall_s:.1f} s",
           f"{'decoder':<{width}}  {'inputs':>10}  {'valid':>10}  {'rejected':>10}  {'escaped':>8}"]
    for name in sorted(rows):
        n, a, r = rows[name]
        out.append(f"{name:<{width}}  {n:>10}  {a:>10}  {r:>10}  {n - a - r:>8}")
    total = [sum(col) for col in zip(*rows.values())] if rows else [0, 0, 0]
    out.append(f"{'total':<{width}}  {total[0]:>10}  {total[1]:>10}  {total[2]:>10}  "
               f"{total[0] - total[1] - total[2]:>8}")
    out.append("pytest: passed" if returncode == 0 else
               f"pytest: FAILED (exit {returncode}): an input made a decoder raise something else (see above)")
    return "\n".join(out)


def run_pytest(paths: list[str], examples: int, seed: int, replay: bool) -> tuple[dict, float, int, str]:
    """One pytest subprocess over ``paths``: (FUZZ rows, wall s, exit code, output)."""
    env = {**os.environ, "FUZZ_EXAMPLES": str(examples)}
    if not replay:
        env["FUZZ_RANDOM"] = "1"
    cmd = [sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider", f"--hypothesis-seed={seed}",
           "-o", "timeout=0", *paths]
    t = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    return parse(proc.stdout), time.perf_counter() - t, proc.returncode, proc.stdout[-20_000:] + proc.stderr[-5_000:]


def family_inputs(rows: dict[str, list[int]]) -> dict[str, int]:
    """Inputs per decoder family; a decoder reported under two names counts once per input (sum)."""
    out: dict[str, int] = {}
    for name, (n, _, _) in rows.items():
        fam = FAMILY.get(name, name)
        out[fam] = out.get(fam, 0) + n
    return out


def run_group(name: str, paths: list[str], per_decoder: int, seed: int, replay: bool) -> tuple:
    """Pilot, size, run one group; returns (name, rows, wall, exit code, output, FUZZ_EXAMPLES used)."""
    rows, wall, rc, out = run_pytest(paths, PILOT, seed, replay)
    if rc != 0:
        return name, rows, wall, rc, out, PILOT
    least = min(family_inputs(rows).values() or [1])
    examples = max(PILOT, math.ceil(PILOT * per_decoder / max(least, 1) * 1.02))
    rows, wall2, rc, out = run_pytest(paths, examples, seed, replay)
    print(f"  {name}: FUZZ_EXAMPLES={examples}, {wall + wall2:.0f} s", flush=True)
    return name, rows, wall + wall2, rc, out, examples


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.fuzz", description=__doc__.split("\n\n")[0])
    ap.add_argument("--per-decoder", type=int, default=100_000, help="inputs every decoder gets at least (default 100000)")
    ap.add_argument("--examples", type=int, default=None, help="FUZZ_EXAMPLES per test instead (no pilot, one run)")
    ap.add_argument("--jobs", type=int, default=2, help="groups run at a time (default 2)")
    ap.add_argument("--seed", type=int, default=None, help="hypothesis seed (default: a random one, printed)")
    ap.add_argument("--replay", action="store_true",
                    help="the CI's fixed examples (derandomized) instead of random ones")
    ap.add_argument("groups", nargs="*", default=list(GROUPS), help=f"decoder families (default all: {', '.join(GROUPS)})")
    args = ap.parse_args(argv)
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**32)
    unknown = sorted(set(args.groups) - set(GROUPS))
    if unknown:
        ap.error(f"unknown groups {unknown}; choose from {list(GROUPS)}")
    t = time.perf_counter()
    print(f"fuzzing {', '.join(args.groups)} with hypothesis seed {seed}", flush=True)
    if args.examples is not None:
        paths = [p for g in args.groups for p in GROUPS[g]]
        rows, _, rc, out = run_pytest(paths, args.examples, seed, args.replay)
        results = [("all", rows, 0.0, rc, out, args.examples)]
    else:
        with ThreadPoolExecutor(max(1, args.jobs)) as pool:
            results = list(pool.map(lambda g: run_group(g, GROUPS[g], args.per_decoder, seed, args.replay),
                                    args.groups))
    rows: dict[str, list[int]] = {}
    rc = 0
    for name, r, _, code, out, _ in results:
        for k, v in r.items():
            rows[k] = [a + b for a, b in zip(rows.get(k, [0, 0, 0]), v)]
        if code != 0:
            rc = code
            print(f"--- group {name} failed (exit {code}) ---\n{out}")
    wall = time.perf_counter() - t
    examples = args.examples if args.examples is not None else max(x[5] for x in results)
    print(table(rows, wall, examples, seed, rc))
    fams = family_inputs(rows)
    if args.examples is None:
        short = {f: n for f, n in fams.items() if n < args.per_decoder}
        print("per decoder family: " + ", ".join(f"{f} {n}" for f, n in sorted(fams.items())) +
              (f"; BELOW {args.per_decoder}: {short}" if short else f"; every family >= {args.per_decoder}"))
    return rc


if __name__ == "__main__":
    sys.exit(main())
