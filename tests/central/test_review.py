"""``python -m central review``: interactive, from a decisions file, and the simulated analyst."""
from __future__ import annotations

import io
import json
import subprocess
import sys

import pytest

from central.review import ReviewError, review

FLAGGED = {"flagged": [
    {"event": 3, "label": "earthquake", "predicted": "explosion", "earthquake": 0.1, "collapse": 0.1, "explosion": 0.8},
    {"event": 8, "label": "collapse", "predicted": "earthquake", "earthquake": 0.7, "collapse": 0.2, "explosion": 0.1},
    {"event": 9, "label": "explosion", "predicted": "collapse", "earthquake": 0.1, "collapse": 0.6, "explosion": 0.3},
]}


@pytest.fixture()
def flagged(tmp_path):
    path = tmp_path / "flagged.json"
    path.write_text(json.dumps(FLAGGED))
    return path


def test_interactive_review_asks_again_on_nonsense_and_stops_on_quit(flagged, tmp_path):
    out = io.StringIO()
    result = review(str(flagged), out=str(tmp_path / "d.json"), stdin=io.StringIO("x\n?\nk\nq\n"), stdout=out)
    assert result["decisions"] == {"3": "explosion", "8": "keep"}
    assert "please answer" in out.getvalue() and "model says explosion" in out.getvalue()
    assert json.loads((tmp_path / "d.json").read_text())["decisions"]["3"] == "explosion"


def test_decisions_from_a_file_and_from_the_truth(flagged, tmp_path):
    csv = tmp_path / "d.csv"
    csv.write_text("event,decision\n3,explosion\n9,drop\n")
    r = review(str(flagged), out=str(tmp_path / "a.json"), decisions_csv=str(csv))
    assert r["decisions"] == {"3": "explosion", "8": "keep", "9": "drop"}
    csv.write_text("3,volcano\n")
    with pytest.raises(ReviewError, match="decision"):
        review(str(flagged), out=str(tmp_path / "b.json"), decisions_csv=str(csv))
    csv.write_text("4,keep\n")
    with pytest.raises(ReviewError, match="not flagged"):
        review(str(flagged), out=str(tmp_path / "b.json"), decisions_csv=str(csv))
    truth = tmp_path / "events.json"
    truth.write_text(json.dumps({"events": [{"event": 3, "truth": "explosion"}, {"event": 8, "truth": "collapse"},
                                            {"event": 9, "truth": "collapse"}]}))
    r = review(str(flagged), out=str(tmp_path / "c.json"), truth=str(truth))
    assert r["decisions"] == {"3": "explosion", "8": "keep", "9": "collapse"}


def test_cli_and_bad_files(flagged, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"flagged": [{"event": "x"}]}')
    run = lambda *a, **kw: subprocess.run([sys.executable, "-m", "central", "review", *a], capture_output=True,
                                          text=True, timeout=60, **kw)
    r = run(str(bad), "--out", str(tmp_path / "o.json"))
    assert r.returncode == 2 and "flagged-events file" in r.stderr
    r = run(str(flagged), "--out", str(tmp_path / "o.json"), input="d\nd\nd\n")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout.splitlines()[-1])["drop"] == 3
