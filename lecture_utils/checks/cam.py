"""Checks for notebooks 05 (CAM) and 07 (Grad-CAM) and their localization benchmark."""
from __future__ import annotations

import numpy as np
import torch

from ..localization import box_from_map, pointing_game
from .core import CheckFailed, Mistake, check_close


def _cases(seed: int):
    g = torch.Generator().manual_seed(seed)
    for n, k, h, c in ((1, 3, 2, 4), (3, 8, 5, 10), (2, 16, 8, 10)):
        yield n, k, h, c, g


def _offset_per_image(ref):
    """A test: is the answer the reference plus a non-zero constant on each image (a bias)?"""
    def test(yours):
        d = yours - ref.double().numpy()
        if d.ndim != 3:
            return False
        spread = np.abs(d - d.mean(axis=(1, 2), keepdims=True)).max()
        return spread < 1e-5 * (1 + np.abs(yours).max()) and np.abs(d).max() > 1e-6
    return test


def _cam_mistakes(f, w, t, ref) -> list[Mistake]:
    n, _, h, wd = f.shape
    flat = ref.reshape(n, -1)
    lo, hi = flat.min(1).values.view(n, 1, 1), flat.max(1).values.view(n, 1, 1)
    return [
        Mistake("the class's bias added to the map (M_c plus b_c, or b_c / Z, at every position)",
                _offset_per_image(ref),
                "M_c(x, y) = sum_k w_k^c f_k(x, y) has no bias: b_c enters the class score "
                "S_c = (1/Z) sum_xy M_c(x, y) + b_c, not the map."),
        Mistake("a ReLU on the map", ref.relu(),
                "CAM keeps the negative evidence: no ReLU (that is Grad-CAM's last step)."),
        Mistake("the map divided by h*w (the average pooling)", ref / (h * wd),
                "The 1/Z of global average pooling belongs to the class score, not to the map."),
        Mistake("each map rescaled to [0, 1]", (ref - lo) / (hi - lo).clamp_min(1e-12),
                "Return the raw map; rescaling is for display (viz.show_heatmap does it)."),
        Mistake("the weights of the first image's class for every image",
                torch.einsum("k,nkhw->nhw", w[t[0]], f),
                "Take the row of each image's own target class: weights[target] is [N, K]."),
    ]


def check_class_activation_map(fn) -> float:
    """``fn(features [N,K,h,w], weights [C,K], target LongTensor [N]) -> [N,h,w]``:
    M_c(x, y) = sum_k w_k^c f_k(x, y) for each image's target class (Zhou et al., Eq. 2)."""
    __tracebackhide__ = True
    cases = []
    for n, k, h, c, g in _cases(5):
        f = torch.randn(n, k, h, h, generator=g).relu()
        w = torch.randn(c, k, generator=g)
        t = torch.randint(0, c, (n,), generator=g)
        if n > 1:
            t[1] = (t[0] + 1) % c                    # two classes, so a fixed class shows
        ref = torch.einsum("nk,nkhw->nhw", w[t], f)
        cases.append((f"N={n}, K={k}, {h}x{h}", fn(f.clone(), w.clone(), t.clone()), ref,
                      _cam_mistakes(f, w, t, ref)))
    return check_close("check_class_activation_map", cases, tol=1e-5,
                       hint="Weight the K feature maps by the row w[c] of the target class and sum "
                            "over k; no ReLU, no normalisation, no division by h*w, no bias.")


def _grad_cam_mistakes(a, grads, ref) -> list[Mistake]:
    h, w = a.shape[-2:]
    alpha = grads.mean(dim=(2, 3))
    return [
        Mistake("no ReLU at the end", torch.einsum("nk,nkhw->nhw", alpha, a),
                "Grad-CAM keeps only the positive evidence: apply ReLU to sum_k alpha_k A^k."),
        Mistake("the gradients summed over the positions instead of averaged", ref * (h * w),
                "alpha_k^c is the *mean* of dy^c/dA^k over the h*w positions (1/Z sum_ij)."),
        Mistake("the gradients themselves as weights, position by position (no pooling)",
                torch.relu((grads * a).sum(1)),
                "Average the gradients over the positions first: alpha_k^c is one number per "
                "channel, then weight A^k by it."),
    ]


def check_grad_cam(fn) -> float:
    """``fn(activations A [N,K,h,w], gradients dy^c/dA [N,K,h,w]) -> [N,h,w]``:
    alpha_k^c = (1/Z) sum_ij dy^c/dA^k_ij, L = ReLU(sum_k alpha_k^c A^k) (Selvaraju et al.,
    Eqs. 1-2)."""
    __tracebackhide__ = True
    cases = []
    for n, k, h, _, g in _cases(7):
        a = torch.randn(n, k, h, h, generator=g).relu()
        grads = torch.randn(n, k, h, h, generator=g)
        ref = torch.relu(torch.einsum("nk,nkhw->nhw", grads.mean(dim=(2, 3)), a))
        cases.append((f"N={n}, K={k}, {h}x{h}", fn(a.clone(), grads.clone()), ref,
                      _grad_cam_mistakes(a, grads, ref)))
    return check_close("check_grad_cam", cases, tol=1e-5,
                       hint="alpha is the *mean* of the gradients over the h*w positions (one "
                            "number per channel and image); weight A by it, sum over k, then "
                            "apply the ReLU.")


def _maps_for_boxes():
    g = np.random.default_rng(11)
    maps = []
    m = np.zeros((12, 12))
    m[1:3, 1:3], m[6:11, 3:10] = 1.0, 0.4          # the peak is in the smaller blob
    maps.append(m)
    d = np.zeros((8, 8))
    d[np.arange(6), np.arange(6)] = 1.0            # one 8-connected diagonal
    maps.append(d)
    s = -np.ones((10, 10))
    s[4:7, 2:9] = 2.0
    s[0, 0] = 0.3                                  # below 20% of the maximum
    maps.append(s)
    for _ in range(3):                             # smooth random maps
        r = g.normal(size=(16, 16))
        r = np.cumsum(np.cumsum(r, 0), 1)
        maps.append(r - r.mean())
    return maps


def check_box_from_map(fn) -> float:
    """``fn(heat np.ndarray [H,W], threshold=0.2) -> (x0, y0, x1, y1)`` (x1, y1 exclusive): the box
    of the largest 8-connected component of the pixels >= threshold x max (Zhou et al.,
    Sec. 3.1)."""
    cases = []
    for i, m in enumerate(_maps_for_boxes()):
        yours = np.asarray(fn(m.copy(), 0.2), dtype=np.int64).reshape(-1)
        ref = box_from_map(m, 0.2)
        if yours.shape != (4,):
            raise CheckFailed(f"check_box_from_map [map {i}]: return 4 numbers (x0, y0, x1, y1), "
                              f"got shape {yours.shape}.")
        if not np.array_equal(yours, ref):
            hint = ("Use scipy.ndimage.label(mask, structure=np.ones((3, 3))) for 8-connectivity, "
                    "keep the label with the most pixels, and return x1 = max column + 1, "
                    "y1 = max row + 1 (exclusive).")
            raise CheckFailed(f"check_box_from_map [map {i}]: your box {yours.tolist()}, the "
                              f"reference {ref.tolist()}. {hint}")
        cases.append((f"map {i}", yours, ref))
    return check_close("check_box_from_map", cases, tol=0)


def check_pointing_game(fn) -> float:
    """``fn(heat [N,H,W], masks bool [N,H,W]) -> bool [N]``: is each map's maximum inside its
    mask?"""
    g = torch.Generator().manual_seed(13)
    heat = torch.randn(64, 12, 12, generator=g)
    masks = torch.zeros(64, 12, 12, dtype=torch.bool)
    for i in range(64):
        y0, x0 = torch.randint(0, 6, (2,), generator=g).tolist()
        masks[i, y0:y0 + 6, x0:x0 + 6] = True
    yours = torch.as_tensor(fn(heat.clone(), masks.clone()))
    ref = pointing_game(heat, masks)
    return check_close("check_pointing_game", [("64 random maps", yours.float(), ref.float())],
                       tol=0, hint="Find each map's argmax over the flattened H*W pixels, turn "
                                   "it back into (row, column) = divmod(index, W), look it up "
                                   "in the mask.")
