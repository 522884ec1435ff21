"""The kernels of papers 6, 9, 10 and 11 with the model and the input on different devices.

``run(device)`` calls dissection, similarity and calibration with (model on ``device``, input on
the CPU), (model on the CPU, input on ``device``) and (both on ``device``), and checks that each
result comes back on the input's device (calibration: on the logits' device). Run by
``tests/test_devices.py`` on a real CUDA device when there is one, and in a subprocess under
a CPU stand-in that applies CUDA's device rules when it is available. Returns a list of failures.
"""
from __future__ import annotations

import copy
import traceback

import torch


def _calls(vgg, vit, x, y, scenes):
    from lecture_utils import calibration, dissection, similarity
    z = torch.randn(len(y), 10, device=x.device)
    return {
        "dissect": lambda: dissection.dissect(vgg, scenes, ["relu2_1"], batch_size=4,
                                              progress=False)["relu2_1"].iou,
        "unit_ablation_effects": lambda: dissection.unit_ablation_effects(
            vgg, x, y, "relu4_2", units=[0, 1], batch_size=4, progress=False),
        "accuracy_with_units_removed": lambda: dissection.accuracy_with_units_removed(
            vgg, x, y, "relu4_2", [[], [1]], batch_size=4),
        "unit_ablation_effects (generic path)": lambda: dissection.unit_ablation_effects(
            torch.nn.Sequential(vgg), x, y, "0.relu4_2", units=[0], progress=False),
        "lower_class_score": lambda: dissection.lower_class_score(vgg, x, y, steps=1,
                                                                  batch_size=4),
        "cka_matrix": lambda: similarity.cka_matrix(vit, x, ["blocks.0"], batch_size=4),
        "cka_matrix (two models)": lambda: similarity.cka_matrix(
            vit, x, ["blocks.0"], model_b=vgg, layers_b=["relu2_1"], batch_size=4),
        "softmax": lambda: calibration.softmax(z, 2.0),
        "predict_proba": lambda: calibration.TemperatureScaling().fit(z, y).predict_proba(z),
    }


def run(device) -> list[str]:
    from lecture_utils import concepts, models
    device = torch.device(device)
    torch.manual_seed(0)
    vgg, vit = models.vgg(width=2).eval(), models.vit(dim=8, depth=1, heads=2).eval()
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (6, 3, 32, 32), dtype=torch.uint8, generator=g)
    y = torch.randint(0, 10, (6,), generator=g)
    scenes = concepts.make_concept_set(x, y, 4, size=48, seed=0)
    failures = []
    cpu = torch.device("cpu")
    for model_dev, input_dev in ((device, cpu), (cpu, device), (device, device)):
        m_vgg, m_vit = copy.deepcopy(vgg).to(model_dev), copy.deepcopy(vit).to(model_dev)
        xi, yi = x.to(input_dev), y.to(input_dev)
        for name, call in _calls(m_vgg, m_vit, xi, yi, scenes).items():
            want = cpu if name == "dissect" else input_dev      # the concept set lives on the CPU
            try:
                out = call()
                if out.device.type != want.type:
                    failures.append(f"{name} (model {model_dev}, input {input_dev}): result on "
                                    f"{out.device}, expected {want}")
            except Exception:
                failures.append(f"{name} (model {model_dev}, input {input_dev}):\n"
                                + traceback.format_exc(limit=-4))
    return failures


def main() -> int:
    failures = run("cuda")
    print("\n\n".join(failures) or "every call kept to the device rules")
    return 1 if failures else 0
