"""Every network of the lecture, written plainly.

Conventions, so that every method of the course works on every model:

* Models take RGB images in [0, 1], shape [N, 3, H, W], and normalise them in their first module
  (``normalize``); attributions are therefore computed in pixel space.
* Every rectifier is its own ``nn.ReLU()`` module: never ``F.relu``, never ``inplace=True``, never
  one module reused twice. The deconvnet and guided-backprop rules (``lecture_utils.hooks``) are
  hooks on ``nn.ReLU`` modules: a functional ReLU would be invisible to them, a shared one would be
  hooked twice, and an in-place one overwrites the input X_n that the rule 1(X_n > 0) needs.
* Layers have names (``conv1_1``, ``layer3``, ``fc``) that notebooks use to pick them.
* ``width`` scales the channel counts: the default is the paper's width (full profile); the laptop
  profile trains narrower copies of the same architecture.
"""
from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from .config import seeded
from .data import CIFAR10_MEAN, CIFAR10_STD

__all__ = [
    "Normalize", "conv_bn_relu", "vgg", "BasicBlock", "ResNetGAP", "resnet_gap",
    "MODEL_C_VARIANTS", "model_c", "ConvModule", "InceptionModule", "DownsampleModule",
    "small_inception", "small_alexnet", "mlp", "lenet", "Attention", "TransformerBlock", "ViT",
    "vit", "relus_not_inplace", "ARCHITECTURES", "build", "count_parameters",
]


class Normalize(nn.Module):
    """(x - mean) / std per channel; the first module of every image model.

    It is also where an image batch first meets a model, so it checks what only a shape can tell
    (free of cost, no device synchronisation): a batch [N, C, H, W] with the model's C channels,
    float values (uint8 would be normalised in 0..255: a silently wrong input). Images of another
    float dtype than the model's (float64 into a float32 model) are converted.
    """

    def __init__(self, mean=CIFAR10_MEAN, std=CIFAR10_STD):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1))

    def forward(self, x):
        channels = self.mean.shape[1]
        if x.dim() != 4 or x.shape[1] != channels:
            hint = (" (a single image: add the batch dimension with x.unsqueeze(0))"
                    if x.dim() == 3 and x.shape[0] == channels else
                    f" (grey images: repeat the channel, x.expand(-1, {channels}, -1, -1))"
                    if x.dim() == 4 and x.shape[1] == 1 else
                    " (RGBA: drop the alpha channel, x[:, :3])"
                    if x.dim() == 4 and x.shape[1] == 4 and channels == 3 else "")
            raise ValueError(f"The model takes images [N, {channels}, H, W]; got "
                             f"{tuple(x.shape)}{hint}.")
        if not x.is_floating_point():
            raise TypeError(f"The model takes float images in [0, 1], got {x.dtype} (uint8 "
                            "images: lecture_utils.data.to_float(x), or x.float() / 255).")
        if x.dtype != self.mean.dtype:
            x = x.to(self.mean.dtype)
        return (x - self.mean) / self.std


def _ch(c: float) -> int:
    return max(1, int(round(c)))


def conv_bn_relu(cin, cout, kernel=3, stride=1, padding=None, batch_norm=True):
    """[conv, (bn), relu] as named modules: the building block of the plain CNNs."""
    padding = kernel // 2 if padding is None else padding
    layers = [("conv", nn.Conv2d(cin, cout, kernel, stride, padding, bias=not batch_norm))]
    if batch_norm:
        layers.append(("bn", nn.BatchNorm2d(cout)))
    layers.append(("relu", nn.ReLU()))
    return layers


def _named(prefix, layers):
    return [(f"{name}{prefix}", module) for name, module in layers]


# --------------------------------------------------------------------------------------------
# VGG-style network with max-pooling (Zeiler & Fergus' deconvnet needs the pooling switches)
# --------------------------------------------------------------------------------------------
def vgg(width: int = 64, num_classes: int = 10, batch_norm: bool = True, hidden: int | None = None):
    """conv1_1..conv4_2 (3x3, widths w, w | 2w, 2w | 4w, 4w | 8w, 8w), max-pool after each of the
    four blocks, then a fully connected head (pool4 -> flatten -> fc1 -> relu -> fc2), no GAP.

    The 4x4 rectified maps of relu4_2 (after conv4_2, its batch norm and ReLU) are what Grad-CAM
    reads on this net.
    """
    widths = [(1, [width, width]), (2, [2 * width] * 2), (3, [4 * width] * 2), (4, [8 * width] * 2)]
    layers, cin = [("normalize", Normalize())], 3
    for block, outs in widths:
        for i, cout in enumerate(outs, start=1):
            layers += _named(f"{block}_{i}", conv_bn_relu(cin, cout, batch_norm=batch_norm))
            cin = cout
        layers.append((f"pool{block}", nn.MaxPool2d(2)))
    hidden = hidden or 8 * width
    layers += [("flatten", nn.Flatten()), ("fc1", nn.Linear(cin * 2 * 2, hidden)),
               ("relu_fc1", nn.ReLU()), ("fc2", nn.Linear(hidden, num_classes))]
    return nn.Sequential(OrderedDict(layers))


# --------------------------------------------------------------------------------------------
# ResNet with a global-average-pooling + linear head (CAM needs exactly this head)
# --------------------------------------------------------------------------------------------
class BasicBlock(nn.Module):
    """relu2(bn2(conv2(relu1(bn1(conv1(x))))) + shortcut(x)); ``skip=False`` drops the shortcut."""

    def __init__(self, cin, cout, stride=1, skip=True):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.relu2 = nn.ReLU()
        self.skip = skip
        self.shortcut = nn.Identity()
        if skip and (stride != 1 or cin != cout):
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                          nn.BatchNorm2d(cout))

    def forward(self, x):
        out = self.bn2(self.conv2(self.relu1(self.bn1(self.conv1(x)))))
        return self.relu2(out + self.shortcut(x) if self.skip else out)


class ResNetGAP(nn.Module):
    """stem -> layer1 (w, 32x32) -> layer2 (2w, 16x16) -> layer3 (4w, 8x8) -> gap -> fc.

    ``layer3``'s output is f_k(x, y) of the CAM paper (8x8 on CIFAR-10) and ``fc`` holds w_k^c.
    """

    def __init__(self, width=64, blocks=(2, 2, 2), num_classes=10, skip=True):
        super().__init__()
        self.normalize = Normalize()
        self.stem = nn.Sequential(OrderedDict(conv_bn_relu(3, width)))
        stages, cin = [], width
        for i, n in enumerate(blocks):
            cout = width * 2 ** i
            stages.append(nn.Sequential(*[
                BasicBlock(cin if j == 0 else cout, cout, stride=2 if (i > 0 and j == 0) else 1,
                           skip=skip)
                for j in range(n)]))
            cin = cout
        self.layer1, self.layer2, self.layer3 = stages
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(cin, num_classes)

    def forward(self, x):
        f = self.layer3(self.layer2(self.layer1(self.stem(self.normalize(x)))))
        return self.fc(self.flatten(self.gap(f)))


def resnet_gap(width=64, blocks=(2, 2, 2), num_classes=10, skip=True):
    return ResNetGAP(width, tuple(blocks), num_classes, skip)


# --------------------------------------------------------------------------------------------
# The Model C family of Springenberg et al. (the lecture's table)
# --------------------------------------------------------------------------------------------
MODEL_C_VARIANTS = ("model_c", "strided_cnn_c", "convpool_cnn_c", "all_cnn_c")


def model_c(variant: str = "all_cnn_c", width: float = 1.0, num_classes: int = 10,
            batch_norm: bool = True):
    """Model C and its three variants, Table 1 of Springenberg et al. (2015).

    ``model_c``: 3x3 conv 96 x2, 3x3 max-pool /2, 3x3 conv 192 x2, 3x3 max-pool /2, head.
    ``strided_cnn_c``: the pools removed, the conv before each pool gets stride r = 2.
    ``convpool_cnn_c``: an extra 3x3 conv before each pool (same depth as All-CNN-C, with pools).
    ``all_cnn_c``: each pool replaced by a 3x3 conv with stride r = 2.
    Head (all four): 3x3 conv 192 (no padding, 6x6), 1x1 conv 192, 1x1 conv 10, global average.
    ``width`` scales 96/192. ``batch_norm`` (not in the paper) makes short training runs work.
    The paper also puts a ReLU on the 10 class maps; we leave it out so that the class score S_c
    can be negative, as a pre-softmax score should (most re-implementations do the same).
    """
    if variant not in MODEL_C_VARIANTS:
        raise ValueError(f"variant must be one of {MODEL_C_VARIANTS}, not {variant!r}")
    c1, c2 = _ch(96 * width), _ch(192 * width)
    layers, cin, n = [("normalize", Normalize())], 3, 0

    def conv(cout, stride=1, kernel=3, padding=None):
        nonlocal cin, n
        n += 1
        layers.extend(_named(n, conv_bn_relu(cin, cout, kernel, stride, padding, batch_norm)))
        cin = cout

    for stage, cout in enumerate((c1, c2), start=1):
        conv(cout)
        if variant == "strided_cnn_c":
            conv(cout, stride=2)
            continue
        conv(cout)
        if variant in ("convpool_cnn_c", "model_c"):
            if variant == "convpool_cnn_c":
                conv(cout)
            layers.append((f"pool{stage}", nn.MaxPool2d(3, stride=2, padding=1)))
        else:  # all_cnn_c
            conv(cout, stride=2)
    conv(c2, padding=0)          # 8x8 -> 6x6
    conv(c2, kernel=1)
    n += 1
    layers += [(f"conv{n}", nn.Conv2d(cin, num_classes, 1)),
               ("gap", nn.AdaptiveAvgPool2d(1)), ("flatten", nn.Flatten())]
    return nn.Sequential(OrderedDict(layers))


# --------------------------------------------------------------------------------------------
# The networks of Zhang et al. (2017): small Inception, small AlexNet, MLPs (28x28 crops)
# --------------------------------------------------------------------------------------------
class ConvModule(nn.Sequential):
    def __init__(self, cin, cout, kernel, stride=1, padding=None, batch_norm=True):
        super().__init__(OrderedDict(conv_bn_relu(cin, cout, kernel, stride, padding, batch_norm)))


class InceptionModule(nn.Module):
    """Two branches, 1x1 conv (c1) and 3x3 conv (c3), concatenated (Zhang et al., Fig. 3)."""

    def __init__(self, cin, c1, c3, batch_norm=True):
        super().__init__()
        self.branch1 = ConvModule(cin, c1, 1, batch_norm=batch_norm)
        self.branch3 = ConvModule(cin, c3, 3, batch_norm=batch_norm)

    def forward(self, x):
        return torch.cat([self.branch1(x), self.branch3(x)], dim=1)


class DownsampleModule(nn.Module):
    """3x3 conv with stride 2 (c3 channels) beside 3x3 max-pool with stride 2, concatenated."""

    def __init__(self, cin, c3, batch_norm=True):
        super().__init__()
        self.conv = ConvModule(cin, c3, 3, stride=2, padding=0, batch_norm=batch_norm)
        self.pool = nn.MaxPool2d(3, stride=2)

    def forward(self, x):
        return torch.cat([self.conv(x), self.pool(x)], dim=1)


def small_inception(width: float = 1.0, num_classes: int = 10, batch_norm: bool = True):
    """The small Inception of Zhang et al. (Appendix A). At width 1 it has 1,651,114 parameters; the
    paper's 1,649,402 is 1,712 fewer (one per conv channel) because its batch norm learns only a
    shift, where ours also learns a scale. ``batch_norm=False`` is the table's "Inception w/o
    BatchNorm" (each conv then has a bias instead)."""
    w = lambda c: _ch(c * width)  # noqa: E731
    spec = [("i", 32, 32), ("i", 32, 48), ("d", 80), ("i", 112, 48), ("i", 96, 64), ("i", 80, 80),
            ("i", 48, 96), ("d", 96), ("i", 176, 160), ("i", 176, 160)]
    bn = batch_norm
    layers = [("normalize", Normalize()), ("conv1", ConvModule(3, w(96), 3, batch_norm=bn))]
    cin = w(96)
    for i, s in enumerate(spec, start=1):
        if s[0] == "i":
            layers.append((f"inception{i}", InceptionModule(cin, w(s[1]), w(s[2]), batch_norm=bn)))
            cin = w(s[1]) + w(s[2])
        else:
            layers.append((f"downsample{i}", DownsampleModule(cin, w(s[1]), batch_norm=bn)))
            cin = w(s[1]) + cin
    layers += [("gap", nn.AdaptiveAvgPool2d(1)), ("flatten", nn.Flatten()),
               ("fc", nn.Linear(cin, num_classes))]
    return nn.Sequential(OrderedDict(layers))


def small_alexnet(width: float = 1.0, num_classes: int = 10, input_size: int = 28):
    """Zhang et al.'s small AlexNet: two (5x5 conv -> 3x3 max-pool -> LRN) modules, then fully
    connected layers of 384 and 192 units; 1,387,786 parameters at width 1 on 28x28 crops."""
    c = _ch(64 * width)
    size = input_size // 4
    return nn.Sequential(OrderedDict([
        ("normalize", Normalize()),
        ("conv1", nn.Conv2d(3, c, 5, padding=2)), ("relu1", nn.ReLU()),
        ("pool1", nn.MaxPool2d(3, stride=2, padding=1)), ("lrn1", nn.LocalResponseNorm(4)),
        ("conv2", nn.Conv2d(c, c, 5, padding=2)), ("relu2", nn.ReLU()),
        ("pool2", nn.MaxPool2d(3, stride=2, padding=1)), ("lrn2", nn.LocalResponseNorm(4)),
        ("flatten", nn.Flatten()),
        ("fc1", nn.Linear(c * size * size, _ch(384 * width))), ("relu3", nn.ReLU()),
        ("fc2", nn.Linear(_ch(384 * width), _ch(192 * width))), ("relu4", nn.ReLU()),
        ("fc3", nn.Linear(_ch(192 * width), num_classes))]))


def mlp(in_features: int = 3 * 28 * 28, hidden=(512,), num_classes: int = 10,
        normalize: bool = True):
    """A multilayer perceptron; Zhang et al.'s "MLP 1x512" is ``hidden=(512,)`` and "MLP 3x512"
    ``hidden=(512, 512, 512)`` on 28x28 crops (1,209,866 and 1,735,178 parameters)."""
    layers = [("normalize", Normalize())] if normalize else []
    layers.append(("flatten", nn.Flatten()))
    cin = in_features
    for i, h in enumerate(hidden, start=1):
        layers += [(f"fc{i}", nn.Linear(cin, h)), (f"relu{i}", nn.ReLU())]
        cin = h
    layers.append((f"fc{len(hidden) + 1}", nn.Linear(cin, num_classes)))
    return nn.Sequential(OrderedDict(layers))


def lenet(num_classes: int = 10, width: float = 1.0):
    """LeNet-5 for 32x32 RGB images: the small, well-calibrated baseline of Guo et al."""
    c1, c2 = _ch(6 * width), _ch(16 * width)
    return nn.Sequential(OrderedDict([
        ("normalize", Normalize()),
        ("conv1", nn.Conv2d(3, c1, 5)), ("relu1", nn.ReLU()), ("pool1", nn.MaxPool2d(2)),
        ("conv2", nn.Conv2d(c1, c2, 5)), ("relu2", nn.ReLU()), ("pool2", nn.MaxPool2d(2)),
        ("flatten", nn.Flatten()),
        ("fc1", nn.Linear(c2 * 25, _ch(120 * width))), ("relu3", nn.ReLU()),
        ("fc2", nn.Linear(_ch(120 * width), _ch(84 * width))), ("relu4", nn.ReLU()),
        ("fc3", nn.Linear(_ch(84 * width), num_classes))]))


# --------------------------------------------------------------------------------------------
# A small Vision Transformer for 32x32 images (Raghu et al. compare it with the ResNet)
# --------------------------------------------------------------------------------------------
class Attention(nn.Module):
    """Multi-head self-attention, written out so that ``attn`` (an identity module) exposes the
    attention weights [N, heads, T, T] to a forward hook (mean attention distance)."""

    def __init__(self, dim, heads):
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim {dim} is not divisible by heads {heads}")
        self.heads, self.scale = heads, (dim // heads) ** -0.5
        self.qkv = nn.Linear(dim, 3 * dim)
        self.attn = nn.Identity()
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        n, t, d = x.shape
        q, k, v = self.qkv(x).view(n, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        weights = self.attn((q @ k.transpose(-2, -1) * self.scale).softmax(dim=-1))
        return self.proj((weights @ v).transpose(1, 2).reshape(n, t, d))


class TransformerBlock(nn.Module):
    """x + attn(norm1(x)), then + mlp(norm2(x)); ``skip=False`` drops both residual paths."""

    def __init__(self, dim, heads, mlp_ratio=2.0, skip=True):
        super().__init__()
        self.norm1, self.attention = nn.LayerNorm(dim), Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(OrderedDict([("fc1", nn.Linear(dim, hidden)), ("act", nn.GELU()),
                                              ("fc2", nn.Linear(hidden, dim))]))
        self.skip = skip

    def forward(self, x):
        a = self.attention(self.norm1(x))
        x = x + a if self.skip else a
        m = self.mlp(self.norm2(x))
        return x + m if self.skip else m


class ViT(nn.Module):
    """Patch embedding (``patch`` x ``patch``, 64 tokens on 32x32) + class token + learned position
    embedding -> ``depth`` transformer blocks (``blocks``) -> layer norm -> linear head on the class
    token."""

    def __init__(self, dim=192, depth=6, heads=3, mlp_ratio=2.0, patch=4, image_size=32,
                 num_classes=10, skip=True):
        super().__init__()
        self.normalize = Normalize()
        self.patch_embed = nn.Conv2d(3, dim, patch, stride=patch)
        tokens = (image_size // patch) ** 2
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.randn(1, tokens + 1, dim) * 0.02)
        self.blocks = nn.Sequential(*[TransformerBlock(dim, heads, mlp_ratio, skip)
                                      for _ in range(depth)])
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, num_classes)
        self.grid = image_size // patch

    def tokens(self, x):
        x = self.patch_embed(self.normalize(x)).flatten(2).transpose(1, 2)   # [N, T, dim]
        cls = self.cls_token.expand(len(x), -1, -1)
        return torch.cat([cls, x], dim=1) + self.pos_embed

    def forward(self, x):
        return self.head(self.norm(self.blocks(self.tokens(x)))[:, 0])


def vit(dim=192, depth=6, heads=3, mlp_ratio=2.0, patch=4, image_size=32, num_classes=10,
        skip=True):
    return ViT(dim, depth, heads, mlp_ratio, patch, image_size, num_classes, skip)


def relus_not_inplace(model: nn.Module) -> nn.Module:
    """Turn off ``inplace`` on every ``nn.ReLU`` (torchvision's VGG16 and AlexNet use in-place
    rectifiers, which the backward rules of ``lecture_utils.hooks`` cannot see through).
    A ReLU module that is *reused* (torchvision's ResNet blocks) cannot be fixed this way."""
    for m in model.modules():
        if isinstance(m, nn.ReLU):
            m.inplace = False
    return model


ARCHITECTURES = {"vgg": vgg, "resnet_gap": resnet_gap, "model_c": model_c,
                 "small_inception": small_inception, "small_alexnet": small_alexnet, "mlp": mlp,
                 "lenet": lenet, "vit": vit}


def build(arch: str, *, seed: int | None = None, **kwargs) -> nn.Module:
    """``build("resnet_gap", width=32)``: a fresh, randomly initialised network.

    ``seed`` makes the initial weights the same in every run, whatever the cells before drew from
    the global random generator (a random-weights control, for instance), and leaves that
    generator as it was; without it, the weights come from the global generator."""
    if arch not in ARCHITECTURES:
        raise ValueError(f"Unknown architecture {arch!r}; choose one of {sorted(ARCHITECTURES)}.")
    if seed is None:
        return ARCHITECTURES[arch](**kwargs)
    with seeded(seed):
        return ARCHITECTURES[arch](**kwargs)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
