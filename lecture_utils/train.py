"""One fast trainer for every network of the course.

Speed-run habits (Keller Jordan's airbench, Page's DAWNBench ResNet): the data sit on the device
as uint8 and are augmented there (``data.DeviceLoader``), channels-last memory layout
(``training_memory_format`` says where not), the course's
precision policy (``lecture_utils.precision``: bf16 autocast where the hardware has it, CPUs
included, fp16 with a gradient scaler on older GPUs), SGD with Nesterov momentum (or AdamW), label
smoothing, a linear warm-up then a linear or cosine decay of the learning rate per step, and
optional test-time flip augmentation. ``fit`` returns a ``History`` (loss, accuracy and time per
epoch) for learning curves; with ``state_path`` it keeps the last epoch's state there so that an
interrupted run can ``resume``.
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from .config import device_name, get_device, keep_freed_memory, seed_everything
from .data import DeviceLoader, center_crop
from .hooks import eval_mode
from .io import atomic_write, sha256_file
from .precision import autocast, grad_scaler, precision_for


@dataclass
class History:
    """Per-epoch records. ``test_loss`` is the plain NLL (no label smoothing); ``seconds`` is the
    cumulative training time, evaluation excluded; ``device`` the device each epoch ran on and
    ``precision`` its precision policy (a run resumed elsewhere keeps both)."""

    epoch: list = field(default_factory=list)
    train_loss: list = field(default_factory=list)
    train_acc: list = field(default_factory=list)
    test_loss: list = field(default_factory=list)
    test_acc: list = field(default_factory=list)
    seconds: list = field(default_factory=list)
    device: list = field(default_factory=list)
    precision: list = field(default_factory=list)

    def device_summary(self) -> str:
        """Where the epochs ran: ``"NVIDIA H200"``, or for a resumed run ``"NVIDIA H200 (epochs
        1-93), then cpu (x86_64, 2 threads) (epochs 94-100)"``. Epochs of a history written
        before devices were recorded count as ``"unrecorded"``."""
        return self._summary(self.device)

    def precision_summary(self) -> str:
        """The precision of the epochs, as ``device_summary``: ``"bf16"``, or ``"bf16 (epochs
        1-40), then fp32 (epochs 41-120)"`` for a run resumed on a CPU without native bf16."""
        return self._summary(self.precision)

    def _summary(self, values: list) -> str:
        names = ["unrecorded"] * (len(self.epoch) - len(values)) + list(values)
        runs = []                                   # [name, first epoch, last epoch]
        for epoch, name in zip(self.epoch, names):
            if runs and runs[-1][0] == name:
                runs[-1][2] = epoch
            else:
                runs.append([name, epoch, epoch])
        if len(runs) <= 1:
            return runs[0][0] if runs else "unrecorded"
        return ", then ".join(f"{n} (epoch{'s' * (a != b)} {a}{f'-{b}' * (a != b)})"
                              for n, a, b in runs)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "History":
        return cls(**{k: list(v) for k, v in d.items() if k in cls.__dataclass_fields__})


def _strided_1x1_with_few_channels(model: nn.Module) -> list[str]:
    """The 1x1 convolutions of ``model`` with a stride and fewer than 16 input channels."""
    return [name for name, m in model.named_modules()
            if isinstance(m, nn.Conv2d) and m.kernel_size == (1, 1) and max(m.stride) > 1
            and m.in_channels < 16]


def training_memory_format(model: nn.Module, device) -> torch.memory_format:
    """The memory layout ``fit`` trains ``model`` in: channels-last (faster for convolutions: 25%
    in float32 on the course's CPU, more under bf16), except on a CPU for a network with a strided
    1x1 convolution of fewer than 16 input channels (a ResNet shortcut at width 4 or 8). There
    oneDNN's channels-last weight gradient writes past its workspace when the input channels are
    fewer than the kernel's channel block (8 with AVX2, 16 with AVX-512): the process crashes,
    hangs, or gets wrong weight gradients (oneDNN issue 6035, open in the oneDNN that torch 2.14
    ships; reproduced on this course's AVX2 CPU with ``Conv2d(4, 8, 1, stride=2)``). Such networks
    are small; they train in the contiguous layout, which takes another kernel."""
    if torch.device(device).type == "cpu" and _strided_1x1_with_few_channels(model):
        return torch.contiguous_format
    return torch.channels_last


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def lr_lambda(total_steps: int, warmup_steps: int, schedule: str):
    """Multiplier of the peak learning rate at each step: linear warm-up, then decay to zero."""
    if schedule not in ("linear", "cosine", "constant"):
        raise ValueError(f"schedule must be 'linear', 'cosine' or 'constant', not {schedule!r}")

    def f(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        if schedule == "constant":
            return 1.0
        t = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return max(0.0, 1 - t) if schedule == "linear" else 0.5 * (1 + math.cos(math.pi * t))
    return f


def make_optimizer(model: nn.Module, optimizer: str, lr: float, weight_decay: float,
                   momentum: float = 0.9):
    """SGD with Nesterov momentum or AdamW; no weight decay on biases and normalisation weights."""
    decay = [p for p in model.parameters() if p.requires_grad and p.dim() > 1]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.dim() <= 1]
    groups = [{"params": decay, "weight_decay": weight_decay},
              {"params": no_decay, "weight_decay": 0.0}]
    if optimizer == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=momentum, nesterov=momentum > 0)
    if optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.99))
    raise ValueError(f"optimizer must be 'sgd' or 'adamw', not {optimizer!r}")


@torch.no_grad()
def predict_logits(model: nn.Module, images: torch.Tensor, batch_size: int = 1024,
                   tta: bool = False, crop: int | None = None, device=None) -> torch.Tensor:
    """Logits [N, C] (float32, on the CPU) for uint8 or float images; ``tta`` averages the logits
    of the image and its mirror image. The forward passes follow the precision policy
    (``lecture_utils.precision``); the logits come back in float32."""
    device = torch.device(device) if device else next(model.parameters()).device
    if device.type == "cpu":
        keep_freed_memory()
    out = []
    with eval_mode(model):   # restored even if a batch fails
        for i in range(0, len(images), batch_size):
            x = images[i:i + batch_size].to(device)
            x = x.float().div_(255.0) if x.dtype == torch.uint8 else x.float()
            if crop:
                x = center_crop(x, crop)
            with autocast(device):
                logits = model(x).float()
                if tta:
                    logits = 0.5 * (logits + model(x.flip(-1)).float())
            out.append(logits.cpu())
    return torch.cat(out)


def evaluate(model, images, labels, batch_size=1024, tta=False, crop=None) -> dict:
    """``{"loss": NLL, "acc": accuracy}`` on a labelled set."""
    logits = predict_logits(model, images, batch_size, tta, crop)
    labels = labels.cpu()
    return {"loss": F.cross_entropy(logits, labels).item(),
            "acc": (logits.argmax(1) == labels).float().mean().item()}


class TrainingStateError(ValueError):
    """A saved training state that cannot continue this run (another recipe or network, or a
    file that does not match its checksum)."""


def _state_record(path: Path) -> Path:
    """The JSON beside a training state: its sha256, its epoch and the run's settings."""
    return path.with_name(path.name.removesuffix(".pt") + ".json")


def _start_over(path: Path) -> str:
    """What to do with a kept training state that cannot be resumed (the end of each error)."""
    return f"delete {path} (and {_state_record(path).name}) to train from the start"


def _save_training_state(path: Path, epoch, model, opt, sched, scaler, loader, history,
                         elapsed, run: dict) -> None:
    """Everything needed to continue after ``epoch``: weights, optimizer, schedule, scaler, RNGs;
    beside it (``_state_record``) its checksum and ``run``, the settings it must continue with.

    Two files cannot be renamed at once, so the record names the checksums of both the new state
    and the one it replaces, and is written once the new state is complete but before it takes
    the name: a save interrupted at any moment (a timeout, a kill) leaves a pair that resumes,
    from this epoch or from the one before."""
    state = {"epoch": epoch, "elapsed": elapsed, "model": model.state_dict(),
             "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
             "scaler": scaler.state_dict(), "loader_rng": loader.generator.get_state(),
             "torch_rng": torch.get_rng_state(), "history": history.to_dict(), "run": run}
    previous = sha256_file(path) if path.exists() else None

    def record(tmp: Path) -> None:
        rec = {"sha256": sha256_file(tmp), "previous_sha256": previous, "epoch": epoch,
               "run": run}
        atomic_write(_state_record(path), lambda t: t.write_text(json.dumps(rec, indent=1)))
    atomic_write(path, lambda tmp: torch.save(state, tmp), before_replace=record)


def kept_state(path: Path) -> dict:
    """The record beside the training state kept at ``path``, checked against the file: its
    ``epoch`` is the epoch the file holds (one less than the record names when the last save
    stopped before its rename; ``interrupted`` then says so). Raises ``TrainingStateError`` for a
    missing record or a file that matches neither checksum."""
    start_over = _start_over(path)
    try:
        record = json.loads(_state_record(path).read_text())
    except (OSError, ValueError) as err:
        raise TrainingStateError(f"The training state {path} has no readable record beside it "
                                 f"({type(err).__name__}); {start_over}.") from None
    actual = sha256_file(path)
    if actual not in (record.get("sha256"), record.get("previous_sha256")):
        raise TrainingStateError(f"The training state {path} does not match its checksum (a "
                                 f"partial copy, or written by an interrupted save); {start_over}.")
    interrupted = actual != record.get("sha256")
    return dict(record, epoch=record.get("epoch", 0) - interrupted, interrupted=interrupted)


def _load_training_state(path: Path, model, opt, sched, scaler, loader, run: dict):
    """Restore what ``_save_training_state`` wrote, after checking that it is the file that was
    written (``kept_state``) and that it belongs to this run (same settings, same network);
    returns ``(epoch, elapsed, history)``."""
    start_over = _start_over(path)
    record = kept_state(path)

    def check_settings(saved: dict) -> None:
        changed = {k: (saved.get(k), v) for k, v in run.items() if saved.get(k) != v}
        if changed:
            diff = ", ".join(f"{k}: {a!r} then, {b!r} now" for k, (a, b) in changed.items())
            raise TrainingStateError(f"The training state {path} was saved by a run with other "
                                     f"settings ({diff}); resume with the settings it was saved "
                                     f"with, or {start_over}.")
    check_settings(record.get("run", {}))
    state = torch.load(path, map_location="cpu", weights_only=True)
    check_settings(state.get("run", {}))        # the file's own (the previous may be another run's)
    if record["interrupted"]:                    # the last save stopped before its rename
        print(f"Note: the save after epoch {record['epoch'] + 1} was interrupted; continuing "
              f"from the state after epoch {state['epoch']}.")
    mine = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    saved = {k: tuple(v.shape) for k, v in state["model"].items()}
    if mine != saved:
        differ = sorted(set(mine) ^ set(saved)) or [k for k in mine if mine[k] != saved[k]]
        raise TrainingStateError(f"The training state {path} holds another network (first "
                                 f"difference: {differ[0]}); {start_over}.")
    model.load_state_dict(state["model"])
    opt.load_state_dict(state["optimizer"])
    sched.load_state_dict(state["scheduler"])
    if state["scaler"]:             # empty when saved without a scaler (bf16 or float32)
        scaler.load_state_dict(state["scaler"])   # (an fp16 GPU's scaler then starts afresh)
    loader.generator.set_state(state["loader_rng"])
    torch.set_rng_state(state["torch_rng"])
    return state["epoch"], state["elapsed"], History.from_dict(state["history"])


def _remove_training_state(path: Path) -> None:
    path.unlink(missing_ok=True)
    _state_record(path).unlink(missing_ok=True)


def fit(model: nn.Module, train, test=None, *, epochs: int = 10, lr: float = 0.1,
        optimizer: str = "sgd", weight_decay: float = 5e-4, momentum: float = 0.9,
        label_smoothing: float = 0.0, batch_size: int = 512, warmup: float = 0.2,
        schedule: str = "linear", augment: bool = True, crop: int | None = None,
        cutout: int = 0, tta: bool = False, device=None, seed: int = 0, progress: bool = True,
        callback=None, state_path: str | Path | None = None, resume: bool = False) -> History:
    """Train ``model`` on ``train = (uint8 images [N,3,H,W], labels [N])`` for ``epochs`` epochs.

    ``warmup`` is the fraction of steps with a linearly rising learning rate; ``schedule`` the decay
    after it. ``crop`` trains on random crops of that size (centre crops when testing); ``cutout``
    masks a random square of that side in every training image (``data.cutout_at``).
    ``callback(epoch, model, history)`` runs after each epoch (e.g. to save snapshots).
    ``state_path``: after every epoch the full training state (weights, optimizer, schedule,
    gradient scaler, random generators, history) is written there atomically; with ``resume=True``
    a state found there is loaded and training continues after its epoch, so an interrupted run
    ends with the same weights as an uninterrupted one. A state whose checksum, settings or network
    differ from this run's is refused (``TrainingStateError``, saying what differs). The state and
    its record are removed when training ends.
    """
    device = torch.device(device) if device else get_device()
    precision = precision_for(device)
    if device.type == "cpu":
        keep_freed_memory()
    seed_everything(seed)
    layout = training_memory_format(model, device)
    model.to(device).to(memory_format=layout)
    loader = DeviceLoader(*train, batch_size=batch_size, shuffle=True, augment=augment, crop=crop,
                          cutout=cutout, drop_last=len(train[1]) > batch_size, device=device,
                          seed=seed)
    opt = make_optimizer(model, optimizer, lr, weight_decay, momentum)
    total = epochs * len(loader)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda(total, int(warmup * total), schedule))
    scaler = grad_scaler(device, precision)
    history, elapsed, start_epoch = History(), 0.0, 1
    state_path = Path(state_path) if state_path else None
    # What a saved state must agree with to be continued (the network is checked on loading).
    run = {"epochs": epochs, "lr": lr, "optimizer": optimizer, "weight_decay": weight_decay,
           "momentum": momentum, "label_smoothing": label_smoothing, "batch_size": batch_size,
           "warmup": warmup, "schedule": schedule, "augment": augment, "crop": crop,
           "cutout": cutout, "tta": tta, "seed": seed, "train_images": len(train[1])}
    if resume and state_path is not None and state_path.exists():
        done, elapsed, history = _load_training_state(state_path, model, opt, sched, scaler,
                                                      loader, run)
        start_epoch = done + 1
    bar = tqdm(total=total, initial=(start_epoch - 1) * len(loader), unit="step", leave=True,
               desc=f"training {type(model).__name__} ({precision.name})", disable=not progress)
    try:
        for epoch in range(start_epoch, epochs + 1):
            model.train()
            _sync(device)
            start = time.perf_counter()
            loss_sum = torch.zeros((), device=device)
            correct = torch.zeros((), device=device)
            seen = 0
            for x, y in loader:
                x = x.contiguous(memory_format=layout)
                with autocast(device, precision):
                    logits = model(x)
                    loss = F.cross_entropy(logits.float(), y, label_smoothing=label_smoothing)
                opt.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                scaler.step(opt)
                scaler.update()
                sched.step()
                loss_sum += loss.detach() * len(y)
                correct += (logits.argmax(1) == y).sum()
                seen += len(y)
                bar.update(1)
            _sync(device)
            elapsed += time.perf_counter() - start
            history.epoch.append(epoch)
            history.train_loss.append(loss_sum.item() / seen)
            history.train_acc.append(correct.item() / seen)
            history.seconds.append(elapsed)
            history.device.append(device_name(device, detail=True))
            history.precision.append(precision.name)
            if test is not None:
                res = evaluate(model, *test, tta=tta, crop=crop)
                history.test_loss.append(res["loss"])
                history.test_acc.append(res["acc"])
            bar.set_postfix(epoch=epoch, train_acc=f"{history.train_acc[-1]:.3f}",
                            **({"test_acc": f"{history.test_acc[-1]:.3f}"} if test else {}))
            if callback is not None:
                callback(epoch, model, history)
            if state_path is not None and epoch < epochs:
                _save_training_state(state_path, epoch, model, opt, sched, scaler, loader,
                                     history, elapsed, run)
    finally:
        bar.close()
        model.to(memory_format=torch.contiguous_format)
        model.eval()
    if state_path is not None:
        _remove_training_state(state_path)
    return history
