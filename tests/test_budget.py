"""The per-notebook budget (``benchmarks/budget.py``, issue 14): every notebook's full profile is
estimated to fit 20 minutes and 12 GB on a T4, and every size the estimate relies on still exists
in its notebook, so the estimate cannot drift silently from the code.

The estimate runs the models on the meta device (shapes only): a few seconds of CPU in all.
"""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _load_budget():
    spec = importlib.util.spec_from_file_location("budget", ROOT / "benchmarks" / "budget.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["budget"] = module             # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


budget = _load_budget()
NOTEBOOKS = budget.notebooks()

# Over the limits today, each with the stage responsible (benchmarks/results/budget.md). strict:
# once a notebook fits, its XPASS fails the run until its line here is removed.
KNOWN_OVER = {
}


def test_every_notebook_has_a_budget():
    assert NOTEBOOKS and set(NOTEBOOKS) == set(budget.NOTEBOOKS), (
        "benchmarks/budget.py NOTEBOOKS must describe exactly the notebooks under notebooks/: "
        f"notebooks {NOTEBOOKS}, described {sorted(budget.NOTEBOOKS)}")


@pytest.mark.parametrize("nb", NOTEBOOKS)
def test_every_size_the_budget_uses_exists_in_the_notebook(nb):
    sizes = budget.notebook_sizes(nb)
    attrs = budget.profile_attributes()
    source = budget.notebook_source(nb)[1]
    missing = []
    for stage in budget.NOTEBOOKS[nb]:
        for name in sorted(budget.stage_names(stage)):
            if name.startswith("P_"):
                if name not in attrs or f"P.{name[2:]}" not in source:
                    missing.append((stage.what, name))
            elif name not in sizes:
                missing.append((stage.what, name))
    for profile, values in budget.ASSUMED.get(nb, {}).items():
        missing += [("ASSUMED", name) for name in values if name not in sizes]
    assert not missing, (
        f"notebook {nb}: the budget (benchmarks/budget.py, NOTEBOOKS[{nb!r}]) relies on sizes the "
        f"notebook no longer has: {missing}. Update its stages to the notebook's new sizes "
        f"(python benchmarks/budget.py --stages {nb} lists them); the notebook has "
        f"{sorted(n for n, s in sizes.items() if s.line)}.")


@pytest.mark.parametrize("nb", NOTEBOOKS)
def test_sizes_used_have_a_value_at_every_profile(nb):
    sizes = budget.notebook_sizes(nb)
    used = set().union(*(budget.stage_names(s) for s in budget.NOTEBOOKS[nb]))
    assumed = budget.ASSUMED.get(nb, {})
    unknown = [(name, p, sizes[name].source.get(p)) for name in sorted(used & set(sizes))
               for p in budget.PROFILES
               if sizes[name].values[p] is None and name not in assumed.get(p, {})
               and sizes[name].source.get(p) not in (None, "None")]
    assert not unknown, (f"notebook {nb}: sizes computed at run time, not literals: {unknown}; "
                         "give their values in budget.ASSUMED with a comment.")


@pytest.mark.parametrize("nb", [pytest.param(n, marks=pytest.mark.xfail(
    strict=True, reason=KNOWN_OVER[n])) if n in KNOWN_OVER else n for n in NOTEBOOKS])
def test_full_profile_fits_a_t4(nb):
    e = budget.estimate(nb, "full")
    assert e.minutes("T4") <= budget.LIMIT_T4_MINUTES and e.memory_gb <= budget.LIMIT_GPU_GB, (
        f"notebook {nb} at the full profile is estimated at {e.minutes('T4'):.0f} T4-minutes "
        f"(limit {budget.LIMIT_T4_MINUTES:.0f}; longest stage: {e.heaviest('T4')}) and "
        f"{e.memory_gb:.1f} GB (limit {budget.LIMIT_GPU_GB:.0f}; largest: {e.biggest()}). "
        f"Shrink that stage (batch it, fewer runs or epochs, a full-profile subset); "
        f"`python benchmarks/budget.py --stages {nb}` shows every stage.")


@pytest.mark.parametrize("profile", ["quick", "laptop"])
def test_smaller_profiles_are_estimated_and_smaller(profile):
    for nb in NOTEBOOKS:
        small, full = budget.estimate(nb, profile), budget.estimate(nb, "full")
        assert small.flops <= full.flops * 1.001, (nb, profile)
        assert small.minutes("T4") <= full.minutes("T4") * 1.001, (nb, profile)


SOURCE = '''
LAYERS = ["a", "b"]
k = 9
n = P.choose(quick=1, laptop=2, full=3)
net = models.vgg(width=P.choose(quick=8, laptop=16, full=32))
BASE = {"width": P.choose(quick=4, laptop=8, full=16), "weight decay": 1e-4}
for p in P.choose(quick=[1], laptop=LAYERS, full=LAYERS) + [0]:
    pass
x, y = data.subset(a, b, P.choose(quick=2, laptop=3, full=canvas.N_TEST))
n = P.choose(quick=5, laptop=6, full=len(y))
'''


def test_sizes_are_named_after_their_statement():
    sizes = budget.sizes_from_source(SOURCE)
    values = {name: s.values["full"] for name, s in sizes.items()}
    from lecture_utils import canvas
    assert values == {"LAYERS": ["a", "b"], "k": 9, "n": 3, "net_width": 32, "BASE_width": 16,
                      "for_p": ["a", "b"], "x": canvas.N_TEST, "n_2": None}
    assert sizes["n_2"].source["full"] == "len(y)" and sizes["n_2"].values["laptop"] == 6


def test_choose_without_the_three_profiles_is_an_error():
    with pytest.raises(ValueError, match="quick=, laptop=, full="):
        budget.sizes_from_source("n = P.choose(quick=1, full=2)\n", "nb.py")


def test_flops_and_memory_of_a_known_model():
    # an MLP 12 -> 5 -> 10: 2 FLOPs per multiply-add; float32 weights 4 bytes each
    spec = budget.ModelSpec("mlp", (("hidden", (5,)), ("in_features", 12), ("normalize", False)),
                            (3, 2, 2))
    cost = budget.profile_model(spec, "infer")
    assert cost.flops == 2 * (12 * 5 + 5 * 10)
    assert cost.weight_bytes == 4 * (12 * 5 + 5 + 5 * 10 + 10)
    train = budget.profile_model(spec, "train")
    # backward: both weight gradients, and the input gradient of the second layer only (the
    # images need none)
    assert train.flops == cost.flops + 2 * (12 * 5 + 5 * 10) + 2 * 5 * 10
    grad = budget.profile_model(spec, "grad")
    assert grad.activation_bytes > cost.activation_bytes > 0


def test_a_single_huge_batch_is_caught():
    # notebook 07's pattern: Grad-CAM on 2,000 64x64 canvases at once must be over 12 GB
    ns = budget.namespace("07", "full")
    big = budget.cost_stage(budget.Stage("one batch", "zoo('resnet_gap_canvas')", "2000",
                                         mode="grad", size=64, batch="2000"), ns)
    small = budget.cost_stage(budget.Stage("batched", "zoo('resnet_gap_canvas')", "2000",
                                           mode="grad", size=64, batch="250"), ns)
    assert big.memory / 2**30 > budget.LIMIT_GPU_GB > small.memory / 2**30
    assert big.flops == small.flops
