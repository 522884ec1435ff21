"""Every kernel with the model and the input on different devices (issue 14).

``run(device)`` calls each attribution method of the registry and the other kernels that take
images, with (model on ``device``, input on the CPU), (model on the CPU, input on ``device``) and
(both on ``device``), and checks that each result comes back on the input's device. Run by
``tests/test_devices.py`` on a real CUDA device when there is one, and in a subprocess under a
CPU stand-in that applies CUDA's device rules (``SIMCUDA_DIR``, see that test) when it is there.
Returns a list of failures (empty when every call kept to the rules).
"""
from __future__ import annotations

import copy
import traceback

import torch


def _calls(model, x, y, canvases):
    from lecture_utils import (attribution, backprop, deconvnet, explorers, faithfulness, lime,
                               localization, occlusion, representations, sanity, shapley)
    methods = attribution.course_methods("layer3", "fc", n_segments=4, lime_samples=20,
                                         shap_samples=20, occlusion_window=8, occlusion_stride=8)
    out = {f"method {name}": (lambda m=m: m(model, x, y)) for name, m in methods.items()}
    seg = lime.superpixels(x[0].cpu(), "slic", n_segments=4)
    out.update({
        "maps_for": lambda: attribution.maps_for(model, x, y, {"g": methods["Grad-CAM"]})["g"],
        "occluded_logits": lambda: occlusion.occluded_logits(model, x, window=8, stride=8),
        "occlusion_activation": lambda: occlusion.occlusion_activation(
            model, x, layer="layer2", unit=0, window=8, stride=8),
        "project_unit": lambda: deconvnet.project_unit(model, x, "layer2", 1),
        "project_top_activations": lambda: deconvnet.project_top_activations(
            model, x, deconvnet.top_activations(model, x, "layer2", [0, 1], k=1)),
        "layer_activations": lambda: representations.layer_activations(model, x, "layer2"),
        "perturbation_curves": lambda: faithfulness.perturbation_curves(
            model, x, y, torch.rand(len(x), 4, 4, device=x.device), steps=4),
        "deep_shap": lambda: shapley.deep_shap(model, x, y, background=x[:1] * 0 + 0.5),
        "explain_image": lambda: lime.explain_image(model, x[0], 1, seg, 20).weights,
        "image_game": lambda: shapley.image_game(model, x[0], 1, seg)(
            torch.ones(2, int(seg.max()) + 1)),
        "class_model_visualization": lambda: backprop.class_model_visualization(
            model, 1, 8, steps=2),
        "explorers.attribution_maps": lambda: explorers.attribution_maps(
            model, x[0], 1, {"CAM": methods["CAM"]})["CAM"],
        "explorers.grad_cam_layers": lambda: explorers.grad_cam_layers(
            model, x, 1, ["layer2"])["layer2"],
        "localization.evaluate_method": lambda: torch.tensor(localization.evaluate_method(
            model, canvases, methods["Grad-CAM"]).iou),
        "sanity.randomization_test": lambda: sanity.randomization_test(
            model, x, y, {"gradient": methods["gradient"]}, blocks=["fc"])[1]["gradient"]["fc"],
    })
    return out


def run(device) -> list[str]:
    from lecture_utils import models
    from lecture_utils.canvas import CanvasSet
    device = torch.device(device)
    torch.manual_seed(0)
    cpu_model = models.resnet_gap(width=4, blocks=(1, 1, 1)).eval()
    x_cpu = torch.rand(2, 3, 16, 16)
    canvases = CanvasSet((x_cpu * 255).to(torch.uint8), torch.tensor([1, 2]),
                         torch.tensor([[0, 0, 8, 8], [4, 4, 12, 12]]),
                         torch.zeros(2, 16, 16, dtype=torch.bool), torch.zeros(2, dtype=torch.long),
                         torch.zeros(2, dtype=torch.long))
    failures = []
    on_device = copy.deepcopy(cpu_model).to(device)
    for where, model, x in (("model on device, x on cpu", on_device, x_cpu),
                            ("model on cpu, x on device", cpu_model, x_cpu.to(device)),
                            ("both on device", on_device, x_cpu.to(device))):
        y = torch.tensor([1, 2], device=x.device)
        for name, call in _calls(model, x, y, canvases).items():
            try:
                out = call()
                expect = x.device if name not in (
                    "explain_image", "image_game", "class_model_visualization",
                    "localization.evaluate_method", "sanity.randomization_test",
                    "explorers.grad_cam_layers") else None
                if expect is not None and out.device != expect:
                    failures.append(f"{where}: {name} returned on {out.device}, not {expect}")
            except Exception as e:                                  # noqa: BLE001
                tb = traceback.format_exc(limit=-3)
                failures.append(f"{where}: {name}: {type(e).__name__}: {e}\n{tb}")
    return failures


def main(device: str = "cuda") -> int:
    found = run(device)
    print("\n".join(found) if found else "device rules kept")
    return 1 if found else 0


if __name__ == "__main__":
    import sys
    sys.exit(main(*sys.argv[1:]))
