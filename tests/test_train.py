import pytest

from lecture_utils import data, models, train


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
