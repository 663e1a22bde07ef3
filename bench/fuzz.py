"""``python -m bench.fuzz [--examples 100000]``: the fuzz suite (``tests/fuzz``) at length.

Runs ``pytest -q -s -p no:cacheprovider tests/fuzz`` in a subprocess with ``FUZZ_EXAMPLES`` set, random
(not the CI's replayed) examples and a printed ``--hypothesis-seed`` so that any failure can be rerun,
then prints one row per decoder from the ``FUZZ <decoder> inputs=<n> valid=<a> rejected=<r>`` lines
the fuzz modules print: inputs, valid, rejected and escaped (inputs - valid - rejected: exceptions other
than the decoder's own error, tolerated only for bugs a test module lists as known), plus the wall
time. A non-zero pytest exit means something escaped that no module tolerates; its output is printed
and the exit code passed on. Not part of ``python -m bench`` (the speed benchmarks).
"""
from __future__ import annotations

import argparse
import os
import random
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
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
    out = [f"fuzz: FUZZ_EXAMPLES={examples} per test, hypothesis seed {seed}, wall {wall_s:.1f} s",
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


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.fuzz", description=__doc__.split("\n\n")[0])
    ap.add_argument("--examples", type=int, default=100_000, help="FUZZ_EXAMPLES: examples per test (default 100000)")
    ap.add_argument("--seed", type=int, default=None, help="hypothesis seed (default: a random one, printed)")
    ap.add_argument("--replay", action="store_true",
                    help="the CI's fixed examples (derandomized) instead of random ones")
    ap.add_argument("paths", nargs="*", default=["tests/fuzz"], help="test files or folders (default tests/fuzz)")
    args = ap.parse_args(argv)
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**32)
    env = {**os.environ, "FUZZ_EXAMPLES": str(args.examples)}
    if not args.replay:
        env["FUZZ_RANDOM"] = "1"
    cmd = [sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider", f"--hypothesis-seed={seed}",
           "-o", "timeout=0", *args.paths]
    print("running:", " ".join(cmd), flush=True)
    t = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        print(proc.stdout[-20_000:], proc.stderr[-5_000:], sep="\n")
    print(table(parse(proc.stdout), wall, args.examples, seed, proc.returncode))
    return proc.returncode


if __name__ == "__main__":
    sys.exit(main())
