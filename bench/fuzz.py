"""``python -m bench.fuzz [--examples 100000]``: every decoder's fuzz test with many generated inputs.

Runs ``pytest tests/fuzz`` in a subprocess with FUZZ_EXAMPLES set and prints, per decoder, the
inputs tried, how many decoded and how many were rejected with the project's own error. Anything
else escaping a decoder fails the run (non-zero exit).
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.fuzz", description=__doc__.split("\n\n")[0])
    ap.add_argument("--examples", type=int, default=100_000)
    args = ap.parse_args(argv)
    t = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider", "tests/fuzz"],
                         capture_output=True, text=True, env={**os.environ, "FUZZ_EXAMPLES": str(args.examples)})
    rows = re.findall(r"FUZZ (\S+) inputs=(\d+) valid=(\d+) rejected=(\d+)", out.stdout)
    print(f"{'decoder':16s} {'inputs':>9s} {'valid':>9s} {'rejected':>9s}")
    for name, n, a, r in rows:
        print(f"{name:16s} {int(n):9d} {int(a):9d} {int(r):9d}")
    print(f"pytest exit {out.returncode} ({'nothing escaped' if out.returncode == 0 else 'SOMETHING ESCAPED'}), "
          f"{time.perf_counter() - t:.0f} s")
    if out.returncode:
        print(out.stdout[-3000:])
    return out.returncode


if __name__ == "__main__":
    sys.exit(main())
