"""Findings a student can trust: every claim a notebook tests is computed, controlled and bounded.

A *finding* records one claim of a paper as an experiment: what we measure, the control it is
compared with (a random or untrained baseline, the same budget for both arms, the same lesion for
both networks), the criterion decided before the run, our estimate with an interval (over seeds,
or a bootstrap over images), the paper's number where there is one, and the verdict the criterion
gives: **reproduced**, **not reproduced** or **inconclusive** (with the reason).

The verdict rule for an *effect* (ours minus the control, oriented so that the paper's claim is a
positive effect):

* reproduced: the whole interval lies above ``margin`` (the paper's direction, clearly);
* not reproduced: the whole interval lies below zero (the opposite direction), or inside
  ``[-margin, margin]`` (no effect of the size that would matter);
* inconclusive: the interval straddles (no clear answer at our scale: more images or seeds needed).

Some claims are of *no* effect ("random labels fall to chance", "without pre-training no head is
local"): ``Findings.no_effect`` applies the equivalence rule (``no_effect_verdict``): reproduced
if the whole interval lies inside ``[-margin, margin]``, not reproduced if it lies wholly outside
it, inconclusive otherwise.

A notebook collects its findings in a ``Findings`` log and prints them in "What we saw" with
``log.summary()``; every sentence of the form "X beats Y" comes from here, so text and numbers
cannot disagree (one formatter, ``fmt``). The log also writes a machine-readable copy into the
executed notebook (MIME type ``FINDINGS_MIME``), from which ``tools/scorecard.py`` builds the
course-wide reproduction scorecard.

Computing only: no drawing here.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field

import numpy as np

__all__ = ["Interval", "Finding", "Findings", "bootstrap", "bootstrap_difference", "over_seeds",
           "proportion", "verdict_for", "no_effect_verdict", "fmt", "ordering", "FINDINGS_MIME",
           "VERDICTS"]

FINDINGS_MIME = "application/vnd.lecture-suite.findings+json"
VERDICTS = ("reproduced", "not reproduced", "inconclusive")
_T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306,
        9: 2.262, 10: 2.228, 15: 2.131, 20: 2.086, 30: 2.042}


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def fmt(value: float, unit: str = "") -> str:
    """The one number formatter of the findings: ``%`` (a fraction shown as a percentage),
    ``points`` (a difference of fractions, signed, in percentage points), or plain (3 digits)."""
    if _missing(value):
        return "n/a"
    if unit == "%":
        return f"{100 * value:.1f}%"
    if unit == "points":                  # no "-0.0": a difference that rounds to zero is 0.0
        return "0.0 points" if round(100 * value, 1) == 0 else f"{100 * value:+.1f} points"
    if unit:
        return f"{value:.3g} {unit}"
    return f"{value:.3g}"


def ordering(values: dict, *, missing: str = "never") -> str:
    """``values`` (name -> number) from the smallest up, as one line of a "this run" sentence:
    ``{"a": 17, "b": 7, "c": None, "d": 17}`` gives ``"b 7 < a 17 = d 17 < c never"``. A missing
    value (None or NaN: "never reached") counts as larger than every number; ties keep the
    order of ``values``. One seed's ranking, with no interval: say so beside it."""
    if not values:
        raise ValueError("ordering needs at least one value")

    def key(value):
        return (1, 0) if _missing(value) else (0, value)

    def text(value):
        return missing if _missing(value) else f"{value:g}"

    items = sorted(values.items(), key=lambda item: key(item[1]))
    line = f"{items[0][0]} {text(items[0][1])}"
    for (_, before), (name, value) in zip(items, items[1:]):
        line += f" {'=' if key(before) == key(value) else '<'} {name} {text(value)}"
    return line


def _magnitude(value: float, unit: str = "") -> str:
    """``fmt`` of |value| without a sign (a margin is a size, not a direction)."""
    return fmt(abs(value), unit).lstrip("+")


@dataclass(frozen=True)
class Interval:
    """An estimate with a two-sided interval: ``estimate`` in [``low``, ``high``] at ``level``,
    from ``method`` (e.g. "bootstrap over 500 images", "3 seeds, t interval")."""

    estimate: float
    low: float
    high: float
    level: float = 0.95
    method: str = ""
    n: int = 0

    @property
    def one_run(self) -> bool:
        """A single measurement (one seed, one training run): no interval to show."""
        return self.n <= 1 and self.low == self.high == self.estimate

    def format(self, unit: str = "") -> str:
        if self.one_run:
            return f"{fmt(self.estimate, unit)} (one run, no interval)"
        return f"{fmt(self.estimate, unit)} [{fmt(self.low, unit)}, {fmt(self.high, unit)}]"

    def excludes(self, value: float) -> bool:
        return self.low > value or self.high < value


def _as_array(values) -> np.ndarray:
    a = np.asarray(values.detach().cpu() if hasattr(values, "detach") else values, dtype=np.float64)
    a = a.reshape(-1)
    if a.size == 0:
        raise ValueError("no values to summarise: the experiment produced an empty result.")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{int((~np.isfinite(a)).sum())} of {a.size} values are not finite: "
                         "fix the experiment before summarising it.")
    return a


def bootstrap(values, *, statistic=np.mean, n_resamples: int = 2000, level: float = 0.95,
              seed: int = 0, what: str = "images") -> Interval:
    """Percentile bootstrap interval of ``statistic`` over the per-item ``values`` [n]."""
    a = _as_array(values)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, a.size, size=(n_resamples, a.size))
    resampled = a[idx]
    if statistic is np.mean:
        stats = resampled.mean(1)
    else:
        stats = np.apply_along_axis(statistic, 1, resampled)
    lo, hi = np.quantile(stats, [(1 - level) / 2, (1 + level) / 2])
    return Interval(float(statistic(a)), float(lo), float(hi), level,
                    f"bootstrap over {a.size:,} {what}", a.size)


def bootstrap_difference(a, b, *, paired: bool, n_resamples: int = 2000, level: float = 0.95,
                         seed: int = 0, what: str = "images") -> Interval:
    """Interval of mean(a) - mean(b). ``paired``: a[i] and b[i] belong to the same item (the same
    image under two methods), resampled together; otherwise each arm is resampled on its own."""
    a, b = _as_array(a), _as_array(b)
    rng = np.random.default_rng(seed)
    if paired:
        if a.size != b.size:
            raise ValueError(f"paired arms need the same items: {a.size} vs {b.size} values.")
        idx = rng.integers(0, a.size, size=(n_resamples, a.size))
        diffs = a[idx].mean(1) - b[idx].mean(1)
        method = f"paired bootstrap over {a.size:,} {what}"
    else:
        diffs = (a[rng.integers(0, a.size, size=(n_resamples, a.size))].mean(1)
                 - b[rng.integers(0, b.size, size=(n_resamples, b.size))].mean(1))
        method = f"bootstrap over {a.size:,} and {b.size:,} {what}"
    lo, hi = np.quantile(diffs, [(1 - level) / 2, (1 + level) / 2])
    return Interval(float(a.mean() - b.mean()), float(lo), float(hi), level, method,
                    min(a.size, b.size))


def bootstrap_difference_over_seeds(a, b, *, n_resamples: int = 2000, level: float = 0.95,
                                    seed: int = 0, what: str = "test images") -> Interval:
    """Interval of mean(a) - mean(b) when each arm was trained with several seeds and scored on
    the same items: ``a`` [S_a, n], ``b`` [S_b, n] (one row per training seed, e.g. 1 where the
    image is classified correctly). A two-level bootstrap: each resample draws the items once for
    both arms (paired) and, for each arm on its own, S_a and S_b seeds with replacement, so the
    interval covers the test sample and the training seeds. With one seed per arm it is
    ``bootstrap_difference(paired=True)``."""
    def rows(x):
        m = np.asarray(x.detach().cpu() if hasattr(x, "detach") else x, dtype=np.float64)
        return _as_array(m).reshape(m.shape if m.ndim == 2 else (1, -1))   # checked: finite
    a, b = rows(a), rows(b)
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"both arms need the same items: {a.shape[1]} vs {b.shape[1]} per seed.")
    if len(a) == len(b) == 1:
        return bootstrap_difference(a[0], b[0], paired=True, n_resamples=n_resamples,
                                    level=level, seed=seed, what=what)
    rng = np.random.default_rng(seed)
    n = a.shape[1]
    diffs = np.empty(n_resamples)
    for r in range(n_resamples):
        idx = rng.integers(0, n, size=n)
        sa, sb = rng.integers(0, len(a), size=len(a)), rng.integers(0, len(b), size=len(b))
        diffs[r] = a[sa][:, idx].mean() - b[sb][:, idx].mean()
    lo, hi = np.quantile(diffs, [(1 - level) / 2, (1 + level) / 2])
    return Interval(float(a.mean() - b.mean()), float(lo), float(hi), level,
                    f"bootstrap over {n:,} {what} (paired) and {len(a)} vs {len(b)} training seeds",
                    n)


def over_seeds(values, *, level: float = 0.95) -> Interval:
    """Mean over training seeds with Student's t interval (95% only); one seed gives an interval
    of zero width and says so in ``method`` (a verdict on it is then at best inconclusive)."""
    if level != 0.95:
        raise ValueError("over_seeds gives 95% intervals only.")
    a = _as_array(values)
    if a.size == 1:
        return Interval(float(a[0]), float(a[0]), float(a[0]), level, "1 seed: no interval", 1)
    t = _T95[min((k for k in _T95 if k >= a.size - 1), default=30)]
    half = t * a.std(ddof=1) / math.sqrt(a.size)
    return Interval(float(a.mean()), float(a.mean() - half), float(a.mean() + half), level,
                    f"{a.size} seeds, t interval", a.size)


def proportion(successes: int, n: int, *, level: float = 0.95) -> Interval:
    """Wilson score interval of a proportion successes / n (95%)."""
    if n <= 0:
        raise ValueError("a proportion needs at least one trial.")
    if level != 0.95:
        raise ValueError("proportion gives 95% intervals only.")
    z, p = 1.959964, successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return Interval(p, max(0.0, centre - half), min(1.0, centre + half), level,
                    f"Wilson interval over {n:,} trials", n)


def verdict_for(effect: Interval, *, margin: float = 0.0, unit: str = "") -> tuple[str, str]:
    """The verdict for an effect oriented so that the paper's claim is positive (module docstring),
    and the reason in words."""
    span = f"{effect.format(unit)}"
    if effect.low > margin:
        return "reproduced", f"the interval {span} lies above {fmt(margin, unit) if margin else 0}"
    if effect.high < 0:
        return "not reproduced", f"the interval {span} lies on the other side of 0"
    within = _magnitude(margin, unit)
    if margin > 0 and -margin <= effect.low and effect.high <= margin:
        return "not reproduced", (f"the interval {span} lies within ±{within}: no effect of the "
                                  "size claimed")
    if margin > 0 and effect.low >= 0:
        return "inconclusive", (f"the interval {span} lies above 0 but reaches below {within}: an "
                                "effect, not clearly of the size claimed, at our scale")
    return "inconclusive", (f"the interval {span} includes 0" + (f" and reaches above {within}"
                                                                   if margin > 0 else "")
                            + ": no clear answer at our scale")


def no_effect_verdict(effect: Interval, *, margin: float, unit: str = "") -> tuple[str, str]:
    """The verdict for a claim of *no* effect of the size ``margin`` (> 0): reproduced if the
    interval lies inside [-margin, margin], not reproduced if it lies wholly outside, else
    inconclusive; and the reason in words."""
    if not margin > 0:
        raise ValueError(f"a claim of no effect needs a margin > 0 (the smallest effect that would "
                         f"matter), not {margin!r}.")
    span, within = effect.format(unit), _magnitude(margin, unit)
    if -margin <= effect.low and effect.high <= margin:
        return "reproduced", f"the interval {span} lies within ±{within}"
    if effect.low > margin or effect.high < -margin:
        return "not reproduced", f"the interval {span} lies beyond ±{within}: an effect"
    return "inconclusive", (f"the interval {span} reaches beyond ±{within} without lying outside "
                            "it: no clear answer at our scale")


@dataclass(frozen=True)
class Finding:
    """One claim tested as an experiment (module docstring)."""

    notebook: str
    paper: str
    claim: str
    measure: str
    control: str
    criterion: str
    ours: Interval | None
    verdict: str
    reason: str
    paper_value: str = ""
    unit: str = ""
    control_value: Interval | None = None

    def __post_init__(self):
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}, not {self.verdict!r}")

    def line(self) -> str:
        parts = []
        if self.ours is not None:
            how = f", {self.ours.method}" if self.ours.method else ""
            parts.append(f"{self.measure}: {self.ours.format(self.unit)}{how}")
        if self.control and self.control != "-":
            parts.append(f"control: {self.control}")
        if self.paper_value:
            parts.append(f"paper: {self.paper_value}")
        detail = f" ({'; '.join(parts)})" if parts else ""
        reason = self.reason[0].upper() + self.reason[1:] if self.reason else ""
        return f"**{self.verdict}**: {self.claim}{detail}. {reason.rstrip('.')}."

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Findings:
    """The findings of one notebook, in the order they were tested."""

    notebook: str
    paper: str
    items: list = field(default_factory=list)

    def effect(self, claim: str, *, measure: str, effect: Interval, control: str,
               criterion: str | None = None, margin: float = 0.0, unit: str = "",
               paper_value: str = "", control_value: Interval | None = None) -> Finding:
        """Test a claim whose ``effect`` is ours minus the control, the paper's direction > 0."""
        verdict, reason = verdict_for(effect, margin=margin, unit=unit)
        criterion = criterion or (
            f"reproduced if the {int(effect.level * 100)}% interval of the effect lies above "
            f"{fmt(margin, unit) if margin else 0}; not reproduced if it lies below 0"
            + (f" or within ±{_magnitude(margin, unit)}" if margin else "") + "; else inconclusive")
        return self._add(Finding(self.notebook, self.paper, claim, measure, control, criterion,
                                 effect, verdict, reason, paper_value, unit, control_value))

    def no_effect(self, claim: str, *, measure: str, effect: Interval, control: str,
                  margin: float, unit: str = "", paper_value: str = "",
                  control_value: Interval | None = None) -> Finding:
        """Test a claim that ours and the control do NOT differ by ``margin`` or more
        (``no_effect_verdict``; the criterion is stated with the finding)."""
        verdict, reason = no_effect_verdict(effect, margin=margin, unit=unit)
        criterion = (f"reproduced if the {int(effect.level * 100)}% interval of the difference "
                     f"lies within ±{_magnitude(margin, unit)}; not reproduced if it lies wholly "
                     "outside; else inconclusive")
        return self._add(Finding(self.notebook, self.paper, claim, measure, control, criterion,
                                 effect, verdict, reason, paper_value, unit, control_value))

    def inconclusive(self, claim: str, *, reason: str, measure: str = "", control: str = "",
                     ours: Interval | None = None, unit: str = "", paper_value: str = "",
                     criterion: str = "a control that cannot be made at our scale") -> Finding:
        """A claim whose control cannot be made at our scale: the reason is the finding."""
        return self._add(Finding(self.notebook, self.paper, claim, measure or "-", control or "-",
                                 criterion, ours, "inconclusive", reason, paper_value, unit))

    def _add(self, finding: Finding) -> Finding:
        self.items.append(finding)
        return finding

    def table(self):
        """A pandas DataFrame: claim, ours with interval, control, paper, verdict."""
        import pandas as pd
        return pd.DataFrame([{"claim": f.claim, "measure": f.measure,
                              "ours [95% interval]": f.ours.format(f.unit) if f.ours else "-",
                              "control": f.control, "paper": f.paper_value or "-",
                              "verdict": f.verdict} for f in self.items])

    def markdown(self) -> str:
        return "\n".join(f"* {f.line()}" for f in self.items)

    def summary(self) -> None:
        """Display "What we saw": one line per finding, and the machine-readable records for the
        scorecard (``tools/scorecard.py``)."""
        payload = {"notebook": self.notebook, "paper": self.paper,
                   "findings": [f.to_dict() for f in self.items]}
        text = "\n".join(f"- {f.line().replace('**', '')}" for f in self.items)
        try:
            from IPython import get_ipython
            from IPython.display import display
        except ImportError:                       # pragma: no cover
            get_ipython = None
        if get_ipython is None or get_ipython() is None:
            print(text)
            return
        display({"text/markdown": self.markdown(), "text/plain": text,
                 FINDINGS_MIME: json.loads(json.dumps(payload))}, raw=True)
