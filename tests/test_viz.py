"""viz: drawing helpers (no kernel draws; these only lay out what kernels computed)."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from lecture_utils import viz  # noqa: E402


def test_show_heatmap_shares_a_scale_when_asked():
    fig, (a, b) = plt.subplots(1, 2)
    viz.show_heatmap(a, torch.tensor([[0.0, 1.0]]))                  # its own range: 0 .. 1
    viz.show_heatmap(b, torch.tensor([[0.0, 1.0]]), vmax=4.0)        # a shared one: 0 .. 4
    assert a.images[0].get_clim() == (0.0, 1.0)
    assert b.images[0].get_clim() == (0.0, 4.0)
    s = plt.figure().add_subplot()
    viz.show_heatmap(s, torch.tensor([[-1.0, 0.5]]), signed=True, vmax=2.0)
    assert s.images[0].get_clim() == (-2.0, 2.0)                      # signed: symmetric about 0
    plt.close("all")
