"""Human review of the classifier's flagged training events: ``python -m central review FLAGGED.json``.

``python -m models classifier clean`` flags the events whose given label the out-of-fold prediction
contradicts with confidence, the most clearly contradicted first. A seismologist keeps, relabels or drops each one; the decisions file that
results is what ``python -m models classifier train --decisions`` applies before retraining.

- interactively: for each flagged event the label, the prediction and its probabilities are shown,
  and ``k`` keeps, ``d`` drops, ``e``/``c``/``x`` relabel earthquake/collapse/explosion, ``q`` stops
  (what was decided so far is written);
- from a file: ``--from decisions.csv`` (``event,decision`` lines; decision keep, drop or a class
  name), checked against the flagged list;
- simulated sets only: ``--truth events.json`` (``python -m sim classes``) decides as an analyst who
  sees the true class would, so that the gain of cleaning can be measured without a person.

Output (``--out``): ``{"decisions": {event: "keep" | "drop" | class}, "reviewer": ..., "flagged": n}``.
"""
from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import TextIO

from edge.exceptions import DasEewError

CLASSES = ("earthquake", "collapse", "explosion")
KEYS = {"k": "keep", "d": "drop", "e": "earthquake", "c": "collapse", "x": "explosion"}


class ReviewError(DasEewError):
    """A flagged list or decisions file that cannot be used."""


def load_flagged(path: str | Path) -> list[dict]:
    try:
        rows = json.loads(Path(path).read_text())["flagged"]
        for r in rows:
            int(r["event"])
            if r["label"] not in CLASSES:
                raise ValueError(f"label {r['label']!r}")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ReviewError(f"{path}: not a flagged-events file of `models classifier clean` ({exc})") from None
    return rows


def _check(decision: str, event) -> str:
    decision = decision.strip().lower()
    if decision not in ("keep", "drop", *CLASSES):
        raise ReviewError(f"event {event}: decision must be keep, drop or one of {CLASSES}, got {decision!r}")
    return decision


def from_file(flagged: list[dict], path: str | Path) -> dict[str, str]:
    """Decisions from an ``event,decision`` CSV; events not flagged are refused, flagged ones not
    mentioned are kept."""
    known = {str(r["event"]) for r in flagged}
    out = {e: "keep" for e in known}
    with open(path, newline="") as f:
        for row in csv.reader(f):
            if not row or row[0].strip().lower() == "event" or row[0].startswith("#"):
                continue
            if len(row) < 2:
                raise ReviewError(f"{path}: line {row!r} is not event,decision")
            event = row[0].strip()
            if event not in known:
                raise ReviewError(f"{path}: event {event} was not flagged")
            out[event] = _check(row[1], event)
    return out


def from_truth(flagged: list[dict], events_json: str | Path) -> dict[str, str]:
    """The simulated analyst: keep a right label, relabel a wrong one to the true class."""
    truth = {str(e["event"]): e["truth"] for e in json.loads(Path(events_json).read_text())["events"]}
    out = {}
    for r in flagged:
        t = truth.get(str(r["event"]))
        if t is None:
            raise ReviewError(f"{events_json}: no truth for event {r['event']}")
        out[str(r["event"])] = "keep" if t == r["label"] else t
    return out


def interactive(flagged: list[dict], stdin: TextIO = sys.stdin, stdout: TextIO = sys.stdout) -> dict[str, str]:
    """Ask about each flagged event on ``stdin``/``stdout``."""
    out: dict[str, str] = {}
    for i, r in enumerate(flagged, 1):
        probs = ", ".join(f"{c} {r.get(c, float('nan')):.2f}" for c in CLASSES)
        while True:
            stdout.write(f"[{i}/{len(flagged)}] event {r['event']}: labelled {r['label']}, model says "
                         f"{r.get('predicted')} ({probs}). [k]eep [d]rop relabel [e]arthquake [c]ollapse "
                         f"e[x]plosion [q]uit: ")
            stdout.flush()
            answer = stdin.readline()
            if not answer:                       # end of input: stop, keep what was decided
                return out
            key = answer.strip().lower()[:1]
            if key == "q":
                return out
            if key in KEYS:
                out[str(r["event"])] = KEYS[key]
                break
            stdout.write("  please answer k, d, e, c, x or q\n")
    return out


def review(flagged_path: str, *, out: str, decisions_csv: str | None = None, truth: str | None = None,
           stdin: TextIO = sys.stdin, stdout: TextIO = sys.stdout) -> dict:
    """Run one review and write ``out``; returns what was written."""
    flagged = load_flagged(flagged_path)
    if decisions_csv and truth:
        raise ReviewError("give --from or --truth, not both")
    if decisions_csv:
        decisions, reviewer = from_file(flagged, decisions_csv), f"file {decisions_csv}"
    elif truth:
        decisions, reviewer = from_truth(flagged, truth), "simulated analyst (true classes)"
    else:
        decisions, reviewer = interactive(flagged, stdin, stdout), "interactive"
    result = {"decisions": decisions, "reviewer": reviewer, "flagged": len(flagged),
              "counts": {k: sum(v == k for v in decisions.values()) for k in ("keep", "drop", *CLASSES)}}
    Path(out).write_text(json.dumps(result, indent=1))
    return result
