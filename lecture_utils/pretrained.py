"""Optional ImageNet-pretrained torchvision networks (VGG16, AlexNet), used only when their weight
files are already in the torch hub cache: nothing is ever downloaded.

``imagenet_model(name)`` returns the network in the course's conventions (takes RGB in [0, 1],
normalises inside, rectifiers hookable) or ``None``; ``skip_message(name)`` says what was skipped
and
how to enable it.
"""
from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import torch
from torch import nn

from .models import Normalize, relus_not_inplace

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "WEIGHT_FILES", "weights_path", "available",
           "skip_message", "imagenet_classes", "wrap", "imagenet_model"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# The files torchvision's IMAGENET1K_V1 weights are saved as in <torch hub>/checkpoints/.
WEIGHT_FILES = {"vgg16": "vgg16-397923af.pth", "alexnet": "alexnet-owt-7be5be79.pth"}


def weights_path(name: str) -> Path:
    if name not in WEIGHT_FILES:
        raise ValueError(f"Unknown network {name!r}; choose one of {sorted(WEIGHT_FILES)}.")
    return Path(torch.hub.get_dir()) / "checkpoints" / WEIGHT_FILES[name]


def available(name: str) -> bool:
    """Is the weight file of ``name`` in the torch hub cache?"""
    return weights_path(name).is_file()


def skip_message(name: str) -> str:
    where = str(weights_path(name)).replace(str(Path.home()), "~", 1)
    return (f"Skipped: the ImageNet weights of torchvision's {name} are not in the torch cache "
            f"({where}). To enable this part, download them once on a machine with a "
            "network:\n    python -c \"import torchvision; "
            f"torchvision.models.{name}(weights='IMAGENET1K_V1')\"\n"
            f"(or copy {WEIGHT_FILES[name]} into that folder) and re-run the notebook.")


def imagenet_classes() -> list[str]:
    """The 1,000 ImageNet class names as torchvision lists them (no download needed)."""
    from torchvision.models import VGG16_Weights
    return list(VGG16_Weights.IMAGENET1K_V1.meta["categories"])


def wrap(net: nn.Module) -> nn.Sequential:
    """torchvision's VGG or AlexNet as ``normalize -> features -> avgpool -> flatten ->
    classifier``,
    taking RGB in [0, 1], with non-in-place ReLUs (so the backward rules can hook them)."""
    net = relus_not_inplace(net)
    return nn.Sequential(OrderedDict([
        ("normalize", Normalize(IMAGENET_MEAN, IMAGENET_STD)), ("features", net.features),
        ("avgpool", net.avgpool), ("flatten", nn.Flatten()), ("classifier", net.classifier)]))


def imagenet_model(name: str, device=None) -> nn.Module | None:
    """The ImageNet-pretrained ``name`` ("vgg16" or "alexnet") from the torch cache, in eval mode,
    or ``None`` when its weights are not there (see ``skip_message``)."""
    import torchvision
    path = weights_path(name)
    if not path.is_file():
        return None
    net = getattr(torchvision.models, name)(weights=None)
    net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    model = wrap(net).eval()
    return model.to(device) if device is not None else model
