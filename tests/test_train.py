import json

import pytest
import torch

from lecture_utils import config, data, models, precision, train


def test_lr_schedule_warms_up_and_decays():
    f = train.lr_lambda(100, 10, "linear")
    assert f(0) == pytest.approx(0.1) and f(9) == pytest.approx(1.0)
    assert f(55) == pytest.approx(0.5) and f(100) == 0.0
    g = train.lr_lambda(100, 0, "cosine")
    assert g(0) == pytest.approx(1.0) and g(50) == pytest.approx(0.5)
    with pytest.raises(ValueError):
        train.lr_lambda(10, 1, "exponential")


def test_fit_learns_and_records_history(cifar_test):
    x, y = data.subset(*cifar_test, 512)
    model = models.lenet()
    before = train.evaluate(model, x, y)["loss"]
    hist = train.fit(model, (x, y), (x, y), epochs=3, lr=0.05, batch_size=64, progress=False)
    assert hist.epoch == [1, 2, 3] and len(hist.test_acc) == 3
    assert hist.seconds == sorted(hist.seconds)
    assert hist.test_loss[-1] < before
    restored = train.History.from_dict(hist.to_dict())
    assert restored == hist
    assert not model.training


def test_fit_adamw_crop_and_tta(cifar_test):
    x, y = data.subset(*cifar_test, 128)
    model = models.mlp(hidden=(32,))
    hist = train.fit(model, (x, y), (x, y), epochs=1, optimizer="adamw", lr=1e-3, crop=28,
                     tta=True, batch_size=64, progress=False, label_smoothing=0.1)
    assert 0 <= hist.test_acc[0] <= 1
    logits = train.predict_logits(model, x[:4], crop=28, tta=True)
    assert logits.shape == (4, 10)


def test_bad_optimizer(cifar_test):
    with pytest.raises(ValueError, match="optimizer"):
        train.make_optimizer(models.lenet(), "rmsprop", 0.1, 0.0)


def test_interrupted_fit_resumes_to_the_same_weights(cifar_test, tmp_path):
    """A run stopped during epoch 2 and resumed ends where an uninterrupted run ends."""
    x, y = data.subset(*cifar_test, 256)
    kw = dict(epochs=2, lr=0.05, batch_size=64, progress=False, device="cpu")
    torch.manual_seed(0)
    init = models.lenet().state_dict()

    def fresh():
        net = models.lenet()
        net.load_state_dict(init)
        return net

    straight = fresh()
    train.fit(straight, (x, y), **kw)

    def stop_in_second(epoch, model, history):
        if epoch == 2:
            raise KeyboardInterrupt
    state = tmp_path / "run.state.pt"
    with pytest.raises(KeyboardInterrupt):
        train.fit(fresh(), (x, y), state_path=state, callback=stop_in_second, **kw)
    assert state.exists()                       # the state after epoch 1
    resumed = models.lenet()                    # other weights: the state replaces them
    hist = train.fit(resumed, (x, y), state_path=state, resume=True, **kw)
    assert hist.epoch == [1, 2] and not state.exists()
    for k, v in straight.state_dict().items():
        assert torch.allclose(v.float(), resumed.state_dict()[k].float(), atol=1e-6), k


def _stopped_run(x, y, state, **kw):
    """A run of ``kw`` stopped during epoch 2: its state after epoch 1 is left at ``state``."""
    def stop_in_second(epoch, model, history):
        if epoch == 2:
            raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt):
        train.fit(models.lenet(), (x, y), state_path=state, callback=stop_in_second, **kw)


def test_a_saved_state_continues_only_its_own_run(cifar_test, tmp_path):
    """Resuming with other settings, another network or a damaged file is refused, saying what
    differs and what to do, before any weight is touched."""
    x, y = data.subset(*cifar_test, 256)
    kw = dict(epochs=2, lr=0.05, batch_size=64, progress=False, device="cpu")
    state = tmp_path / "run.state.pt"
    _stopped_run(x, y, state, **kw)
    record = tmp_path / "run.state.json"
    assert record.exists()
    with pytest.raises(train.TrainingStateError, match=r"epochs: 2 then, 3 now.*delete"):
        train.fit(models.lenet(), (x, y), state_path=state, resume=True, **dict(kw, epochs=3))
    with pytest.raises(train.TrainingStateError, match="another network"):
        train.fit(models.mlp(hidden=(8,)), (x, y), state_path=state, resume=True, **kw)
    with pytest.raises(train.TrainingStateError, match="train_images"):
        train.fit(models.lenet(), (x[:128], y[:128]), state_path=state, resume=True, **kw)
    with open(state, "ab") as f:
        f.write(b"0")
    with pytest.raises(train.TrainingStateError, match="checksum"):
        train.fit(models.lenet(), (x, y), state_path=state, resume=True, **kw)
    record.unlink()
    with pytest.raises(train.TrainingStateError, match="no readable record"):
        train.fit(models.lenet(), (x, y), state_path=state, resume=True, **kw)
    # without resume the old state is simply replaced by the new run's, then removed
    train.fit(models.lenet(), (x, y), state_path=state, **kw)
    assert not state.exists() and not record.exists()


def test_a_save_interrupted_before_its_rename_still_resumes(cifar_test, tmp_path, capsys):
    """The record is written before the new state takes its name: a kill in between leaves the
    previous epoch's state under a record of the next, which resumes from the previous epoch
    (and a previous state of another run is still refused)."""
    x, y = data.subset(*cifar_test, 256)
    kw = dict(epochs=3, lr=0.05, batch_size=64, progress=False, device="cpu")
    state, record = tmp_path / "run.state.pt", tmp_path / "run.state.json"

    def stop_in(n):
        def callback(epoch, model, history):
            if epoch == n:
                raise KeyboardInterrupt
        return callback
    with pytest.raises(KeyboardInterrupt):
        train.fit(models.lenet(), (x, y), state_path=state, callback=stop_in(2), **kw)
    after_1 = state.read_bytes()
    with pytest.raises(KeyboardInterrupt):
        train.fit(models.lenet(), (x, y), state_path=state, resume=True, callback=stop_in(3),
                  **kw)
    assert json.loads(record.read_text())["epoch"] == 2
    state.write_bytes(after_1)                  # the rename of epoch 2's state never happened
    hist = train.fit(models.lenet(), (x, y), state_path=state, resume=True, **kw)
    assert hist.epoch == [1, 2, 3] and "continuing from the state after epoch 1" in \
        capsys.readouterr().out
    # a new run (other settings, no resume) interrupted the same way over the old run's state
    with pytest.raises(KeyboardInterrupt):
        train.fit(models.lenet(), (x, y), state_path=state, callback=stop_in(2), **kw)
    old_run = state.read_bytes()
    with pytest.raises(KeyboardInterrupt):
        train.fit(models.lenet(), (x, y), state_path=state, callback=stop_in(2),
                  **dict(kw, lr=0.1))
    state.write_bytes(old_run)
    with pytest.raises(train.TrainingStateError, match=r"lr: 0.05 then, 0.1 now"):
        train.fit(models.lenet(), (x, y), state_path=state, resume=True, **dict(kw, lr=0.1))


def test_a_state_saved_without_a_scaler_resumes_where_fp16_needs_one(cifar_test, tmp_path,
                                                                     monkeypatch):
    """A run begun on a CPU (no gradient scaler) continues on an fp16 GPU (a T4), whose scaler
    starts afresh: here a CPU scaler stands in for it."""
    x, y = data.subset(*cifar_test, 256)
    kw = dict(epochs=2, lr=0.05, batch_size=64, progress=False, device="cpu")
    state = tmp_path / "run.state.pt"
    _stopped_run(x, y, state, **kw)
    assert torch.load(state, weights_only=True)["scaler"] == {}
    monkeypatch.setattr(train, "grad_scaler",
                        lambda device, precision=None: torch.amp.GradScaler("cpu", enabled=True))
    hist = train.fit(models.lenet(), (x, y), state_path=state, resume=True, **kw)
    assert hist.epoch == [1, 2]


def test_history_records_the_device_of_each_epoch():
    """A resumed run keeps where each epoch ran; the manifest's ``device`` is the summary."""
    h = train.History(epoch=[1, 2, 3, 4], device=["NVIDIA H200"] * 3 + ["cpu (x86_64, 2 threads)"])
    assert h.device_summary() == ("NVIDIA H200 (epochs 1-3), then cpu (x86_64, 2 threads) "
                                  "(epoch 4)")
    assert train.History(epoch=[1, 2], device=["cpu"] * 2).device_summary() == "cpu"
    # a history written before devices were recorded, resumed on the CPU
    old = train.History(epoch=[1, 2, 3], device=["cpu"])
    assert old.device_summary() == "unrecorded (epochs 1-2), then cpu (epoch 3)"
    assert train.History().device_summary() == "unrecorded"
    assert train.History.from_dict({"epoch": [1], "seconds": [1.0]}).device == []


def test_fit_records_the_device(cifar_test):
    x, y = data.subset(*cifar_test, 128)
    hist = train.fit(models.lenet(), (x, y), epochs=2, batch_size=64, progress=False,
                     device="cpu")
    assert hist.device == [config.device_name("cpu", detail=True)] * 2
    assert hist.device_summary().startswith("cpu (")
    assert hist.precision == [precision.precision_for(torch.device("cpu")).name] * 2
    assert hist.precision_summary() == hist.precision[0]


def test_precision_summary_of_a_run_resumed_without_bf16():
    h = train.History(epoch=[1, 2, 3], precision=["bf16", "bf16", "fp32"])
    assert h.precision_summary() == "bf16 (epochs 1-2), then fp32 (epoch 3)"
    assert train.History(epoch=[1, 2]).precision_summary() == "unrecorded"


def test_small_strided_1x1_convolutions_train_in_the_contiguous_layout_on_a_cpu():
    """oneDNN issue 6035: channels-last weight gradients of a strided 1x1 convolution with fewer
    input channels than the kernel's block (8 with AVX2, 16 with AVX-512) crash, hang or are wrong.
    The ResNet shortcut at width 4 has one (4 -> 8 channels, stride 2); at width 32 it has none."""
    small, wide = models.resnet_gap(width=4, blocks=(1, 1, 1)), models.resnet_gap(width=32)
    assert train._strided_1x1_with_few_channels(small)
    assert train.training_memory_format(small, "cpu") == torch.contiguous_format
    assert train.training_memory_format(wide, "cpu") == torch.channels_last
    assert train.training_memory_format(models.lenet(), "cpu") == torch.channels_last


def test_a_width_4_resnet_trains_in_float32_on_this_cpu(cifar_test, tmp_path):
    """What crashed notebook 09's factor sweep on an AVX2-only CPU: training a width-4 ResNet in
    float32. Run in a child process, so that a crash fails this test instead of the test run;
    its weight gradients must match a float64 reference."""
    import os
    import subprocess
    import sys
    import textwrap
    code = textwrap.dedent("""
        import torch, torch.nn.functional as F
        from lecture_utils import models, train
        torch.manual_seed(0)
        net = models.resnet_gap(width=4, blocks=(1, 1, 1))
        x, y = torch.rand(32, 3, 32, 32), torch.randint(0, 10, (32,))
        ref = net.double()
        F.cross_entropy(ref(x.double()), y).backward()
        want = {k: p.grad.clone() for k, p in ref.named_parameters()}
        net = net.float()
        net.zero_grad()
        layout = train.training_memory_format(net, "cpu")
        net = net.to(memory_format=layout)
        F.cross_entropy(net(x.contiguous(memory_format=layout)), y).backward()
        for k, p in net.named_parameters():
            scale = want[k].abs().max().item() + 1e-12
            err = (p.grad.double() - want[k]).abs().max().item() / scale
            assert err < 1e-3, (k, err)
        print("ok")
    """)
    env = dict(os.environ, LECTURE_PRECISION="fp32", OMP_NUM_THREADS="1")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         timeout=300)
    assert run.returncode == 0 and "ok" in run.stdout, (run.returncode, run.stderr[-2000:])
