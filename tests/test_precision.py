"""One precision policy: which autocast dtype each device gets, and LECTURE_PRECISION overrides."""
import pytest
import torch

from lecture_utils import models, precision, train


def test_cpu_follows_native_bf16(monkeypatch):
    monkeypatch.delenv("LECTURE_PRECISION", raising=False)
    monkeypatch.setattr(precision, "_cpu_has_native_bf16", lambda: True)
    assert precision.precision_for("cpu").dtype == torch.bfloat16
    monkeypatch.setattr(precision, "_cpu_has_native_bf16", lambda: False)
    assert precision.precision_for("cpu").dtype is None
    monkeypatch.setenv("LECTURE_PRECISION", "bf16")     # asked for: given, and said to be slow
    forced = precision.precision_for("cpu")
    assert forced.dtype == torch.bfloat16 and "without native bf16" in forced.reason


@pytest.mark.parametrize("capability, name, scaler",
                         [((7, 5), "fp16", True), ((8, 0), "bf16", False), ((9, 0), "bf16", False)])
def test_cuda_by_compute_capability(monkeypatch, capability, name, scaler):
    """A T4 (sm 7.5) answers is_bf16_supported() == True but has no bf16 convolutions: fp16."""
    monkeypatch.delenv("LECTURE_PRECISION", raising=False)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)
    p = precision.precision_for(torch.device("cuda"))
    assert (p.name, p.scaler) == (name, scaler)


def test_environment_forces_fp32_and_rejects_nonsense(monkeypatch):
    monkeypatch.setenv("LECTURE_PRECISION", "fp32")
    assert precision.precision_for("cpu").dtype is None
    with precision.autocast("cpu"):
        assert not torch.is_autocast_enabled("cpu")
    monkeypatch.setenv("LECTURE_PRECISION", "fp8")
    with pytest.raises(ValueError, match="LECTURE_PRECISION"):
        precision.precision_for("cpu")
    monkeypatch.setenv("LECTURE_PRECISION", "fp16")
    with pytest.raises(ValueError, match="CUDA"):
        precision.precision_for("cpu")


def test_predict_logits_is_float32_under_bf16(monkeypatch):
    monkeypatch.setenv("LECTURE_PRECISION", "bf16")
    model = models.lenet().eval()
    x = torch.rand(6, 3, 32, 32)
    logits = train.predict_logits(model, x)
    assert logits.dtype == torch.float32
    monkeypatch.setenv("LECTURE_PRECISION", "fp32")
    exact = train.predict_logits(model, x)
    assert torch.allclose(logits, exact, atol=0.05 * exact.abs().max().item())  # bf16: ~3 digits
