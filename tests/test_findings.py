"""Findings: intervals with the right coverage, verdicts from the stated rule, one formatter, and
the scorecard read back from notebook outputs."""
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from lecture_utils import findings

ROOT = Path(__file__).resolve().parent.parent


def test_formatter_is_the_one_used_everywhere():
    assert findings.fmt(0.4434, "%") == "44.3%"
    assert findings.fmt(-0.034, "points") == "-3.4 points"
    assert findings.fmt(-0.0004, "points") == findings.fmt(0.0004, "points") == "0.0 points"
    assert findings.fmt(0.12345) == "0.123"
    iv = findings.Interval(0.5, 0.4, 0.6)
    assert iv.format("%") == "50.0% [40.0%, 60.0%]"


def test_bootstrap_interval_covers_the_mean_and_shrinks_with_n():
    rng = np.random.default_rng(0)
    small = findings.bootstrap(rng.normal(1.0, 1.0, 50))
    large = findings.bootstrap(rng.normal(1.0, 1.0, 5000))
    assert small.low < 1.0 < small.high
    assert (large.high - large.low) < (small.high - small.low) / 5
    assert "5,000 images" in large.method


def test_paired_difference_uses_the_pairing():
    """Two methods on the same images: a constant offset is certain when paired, not unpaired."""
    rng = np.random.default_rng(1)
    a = rng.normal(0, 1, 200)
    b = a - 0.05
    paired = findings.bootstrap_difference(a, b, paired=True)
    unpaired = findings.bootstrap_difference(a, b, paired=False)
    assert paired.low == pytest.approx(0.05) and paired.high == pytest.approx(0.05)
    assert unpaired.low < 0 < unpaired.high
    with pytest.raises(ValueError, match="same items"):
        findings.bootstrap_difference(a, b[:10], paired=True)


def test_difference_over_seeds_covers_seeds_and_images():
    """One seed per arm: the paired image bootstrap. Seeds that disagree widen the interval,
    and a seed offset shared by every image (a constant) is not mistaken for certainty."""
    rng = np.random.default_rng(2)
    a = (rng.random(500) < 0.8).astype(float)
    b = (rng.random(500) < 0.7).astype(float)
    one = findings.bootstrap_difference_over_seeds(a, b, seed=3)
    paired = findings.bootstrap_difference(a, b, paired=True, seed=3)
    assert one.estimate == pytest.approx(paired.estimate)
    assert one.high - one.low == pytest.approx(paired.high - paired.low, rel=0.2)
    same = findings.bootstrap_difference_over_seeds(np.stack([a, a, a]), np.stack([b, b, b]))
    noisy = findings.bootstrap_difference_over_seeds(
        np.stack([a, np.roll(a, 7), 1 - a]), np.stack([b, b, b]))
    assert noisy.high - noisy.low > 2 * (same.high - same.low)
    assert "3 vs 3 training seeds" in same.method
    with pytest.raises(ValueError, match="same items"):
        findings.bootstrap_difference_over_seeds(a, b[:10])


def test_over_seeds_is_a_t_interval():
    iv = findings.over_seeds([0.90, 0.91, 0.92])
    half = 4.303 * np.std([0.90, 0.91, 0.92], ddof=1) / np.sqrt(3)
    assert iv.estimate == pytest.approx(0.91) and iv.high - iv.estimate == pytest.approx(half)
    one = findings.over_seeds([0.9])
    assert one.low == one.high == 0.9 and "no interval" in one.method
    assert one.format("%") == "90.0% (one run, no interval)"          # not "[90.0%, 90.0%]"


def test_wilson_interval():
    iv = findings.proportion(8, 10)
    assert iv.low == pytest.approx(0.4902, abs=1e-3) and iv.high == pytest.approx(0.9433, abs=1e-3)


@pytest.mark.parametrize("low, high, margin, verdict", [
    (0.02, 0.05, 0.0, "reproduced"), (-0.05, -0.01, 0.0, "not reproduced"),
    (-0.01, 0.03, 0.0, "inconclusive"), (-0.005, 0.004, 0.01, "not reproduced"),
    (0.005, 0.02, 0.01, "inconclusive"), (0.02, 0.03, 0.01, "reproduced")])
def test_verdict_rule(low, high, margin, verdict):
    iv = findings.Interval((low + high) / 2, low, high)
    assert findings.verdict_for(iv, margin=margin)[0] == verdict


def test_bad_values_are_refused():
    with pytest.raises(ValueError, match="empty"):
        findings.bootstrap([])
    with pytest.raises(ValueError, match="not finite"):
        findings.bootstrap([1.0, float("nan")])
    with pytest.raises(ValueError, match="verdict"):
        findings.Finding("n", "p", "c", "m", "ctl", "crit", None, "probably", "r")


def test_log_prints_and_scorecard_reads_it_back(tmp_path, capsys):
    log = findings.Findings("99_test", "Doe et al. 2020")
    log.effect("A beats B", measure="accuracy, A - B", control="B on the same images",
               effect=findings.Interval(0.05, 0.02, 0.08, method="paired bootstrap"), unit="points",
               paper_value="+3 points")
    log.inconclusive("C transfers", reason="no C-sized data here")
    log.inconclusive("D helps", reason="one seed", ours=findings.over_seeds([0.1]), unit="points")
    log.summary()
    text = capsys.readouterr().out
    assert "reproduced: A beats B" in text and "+5.0 points [+2.0 points, +8.0 points]" in text
    assert "inconclusive: C transfers" in text
    # the executed notebook keeps the records under the findings MIME type
    nb = {"cells": [{"cell_type": "code", "outputs": [{"output_type": "display_data", "data": {
        findings.FINDINGS_MIME: {"notebook": "99_test", "paper": "Doe et al. 2020",
                                 "findings": [f.to_dict() for f in log.items]}}}]}]}
    (tmp_path / "99_test.ipynb").write_text(json.dumps(nb))
    sys.path.insert(0, str(ROOT / "tools"))
    import scorecard
    recs = scorecard.records(tmp_path)
    assert [r["verdict"] for r in recs] == ["reproduced", "inconclusive", "inconclusive"]
    table = scorecard.table(recs)
    assert "3 findings: 1 reproduced, 0 not reproduced, 2 inconclusive" in table
    assert "+5.0 pts [+2.0 pts, +8.0 pts]" in table
    assert "+10.0 pts (one run, no interval)" in table      # not a zero-width "[x, x]"


def test_readme_scorecard_is_the_committed_notebooks_findings():
    """The README's scorecard is what the committed notebooks printed (tools/scorecard.py --write
    after re-executing a notebook), and every row carries a control and an interval or a reason."""
    sys.path.insert(0, str(ROOT / "tools"))
    import scorecard
    assert scorecard.main(["--check"]) == 0, "run `python tools/scorecard.py --write`"
    for r in scorecard.records():
        assert r["control"] and r["control"] != "-" or r["verdict"] == "inconclusive", r["claim"]
        assert r["ours"] is not None or r["verdict"] == "inconclusive", r["claim"]


def test_no_effect_is_an_equivalence_rule():
    inside = findings.Interval(0.01, -0.02, 0.03)
    outside = findings.Interval(0.2, 0.1, 0.3)
    straddle = findings.Interval(0.04, -0.01, 0.09)
    verdict = lambda e: findings.no_effect_verdict(e, margin=0.05)[0]  # noqa: E731
    assert [verdict(e) for e in (inside, outside, straddle)] == [
        "reproduced", "not reproduced", "inconclusive"]
    assert verdict(findings.Interval(-0.2, -0.3, -0.1)) == "not reproduced"
    with pytest.raises(ValueError, match="margin > 0"):
        findings.no_effect_verdict(inside, margin=0)
    log = findings.Findings("00", "test")
    f = log.no_effect("no gap", measure="gap", effect=inside, control="c", margin=0.05,
                      unit="points")
    assert f.verdict == "reproduced" and "within ±5.0 points" in f.criterion


def test_ordering_puts_the_smallest_first_ties_as_equals_and_missing_values_last():
    assert findings.ordering({"a": 17, "b": 7, "c": None, "d": 17}) == "b 7 < a 17 = d 17 < c never"
    assert findings.ordering({"x": float("nan"), "y": 0.5}, missing="n/a") == "y 0.5 < x n/a"
    assert findings.ordering({"only": 3}) == "only 3"
    assert findings.ordering({"u": None, "v": None}) == "u never = v never"
    with pytest.raises(ValueError, match="at least one"):
        findings.ordering({})
