import pytest
import torch

from lecture_utils import config, data, models, train


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
