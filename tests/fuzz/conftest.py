"""Shared bookkeeping of the fuzz tests: how many inputs (``FUZZ_EXAMPLES``, default 2000 per test)
and, per decoder, how many decoded and how many were rejected, printed once at the end as
``FUZZ <decoder> inputs=<n> valid=<a> rejected=<r>`` (``python -m bench.fuzz`` collects these lines)."""
from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

N = int(os.environ.get("FUZZ_EXAMPLES", "2000"))
# CI replays the same examples every run; bench.fuzz sets FUZZ_RANDOM=1 (and --hypothesis-seed) to explore
FUZZ = settings(max_examples=N, deadline=None, suppress_health_check=list(HealthCheck),
                derandomize=os.environ.get("FUZZ_RANDOM") != "1", database=None)
COUNTS: dict[str, list[int]] = {}


def count(decoder: str, valid: bool | None) -> None:
    """Record one input of ``decoder``: decoded (True), rejected with the decoder's own error (False)
    or neither (None: an escape, which the calling test then fails on)."""
    c = COUNTS.setdefault(decoder, [0, 0, 0])
    c[0] += 1
    if valid is not None:
        c[1 if valid else 2] += 1


@pytest.fixture(scope="session", autouse=True)
def report_counts():
    yield
    for name, (n, a, r) in COUNTS.items():
        print(f"\nFUZZ {name} inputs={n} valid={a} rejected={r}")
