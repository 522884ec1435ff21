"""The zoo: committed checkpoints reach their manifest accuracy; bad files are reported and
rebuilt."""
import json
import subprocess
import sys

import pytest
import torch

from lecture_utils import zoo
from lecture_utils.io import atomic_write, sha256_file


@pytest.fixture
def empty_zoo(tmp_path, monkeypatch):
    """No committed checkpoints and an empty cache: everything must be trained (quick recipe)."""
    models_dir = tmp_path / "models"
    models_dir.mkdir()
    monkeypatch.setattr(zoo, "MODELS_DIR", models_dir)
    monkeypatch.setattr(zoo, "MANIFEST", models_dir / "manifest.json")
    monkeypatch.setenv("LECTURE_CACHE", str(tmp_path / "cache"))
    return tmp_path


def test_unknown_model_is_a_clear_error():
    with pytest.raises(zoo.ZooError, match="the zoo has"):
        zoo.load_model("resnet9000")


def test_train_cache_and_reload(empty_zoo):
    model = zoo.load_model("lenet", profile="quick", progress=False)
    assert model.zoo_info["source"] == "trained now" and not model.training
    again = zoo.load_model("lenet", profile="quick")
    assert again.zoo_info["source"] == "cache"
    x = torch.rand(2, 3, 32, 32)
    assert torch.allclose(model(x), again(x), atol=1e-5)
    assert len(zoo.history_of(again).test_acc) == zoo.RECIPES["lenet"]["quick"].epochs


def test_corrupt_cached_checkpoint_is_reported_and_retrained(empty_zoo):
    zoo.load_model("lenet", profile="quick", progress=False)
    path = empty_zoo / "cache" / "models" / "lenet-quick.pt"
    path.write_bytes(path.read_bytes()[:-100] + b"x" * 100)
    with pytest.warns(UserWarning, match="checksum mismatch"):
        model = zoo.load_model("lenet", profile="quick", progress=False)
    assert model.zoo_info["source"] == "trained now"


def test_pickled_code_is_never_loaded(empty_zoo):
    """Checkpoints are loaded with weights_only=True: a file carrying code is refused, not run."""
    zoo.load_model("lenet", profile="quick", progress=False)
    info_path = empty_zoo / "cache" / "models" / "lenet-quick.json"
    path = info_path.with_suffix(".pt")
    torch.save({"payload": print}, path)              # a pickled callable, not tensors
    info = json.loads(info_path.read_text())
    info["sha256"] = sha256_file(path)
    info_path.write_text(json.dumps(info))
    with pytest.warns(UserWarning, match="cannot load"):
        zoo.load_model("lenet", profile="quick", progress=False)


def test_committed_checkpoint_with_bad_checksum_is_not_used(empty_zoo, monkeypatch):
    model, info = zoo.train_model("lenet", "quick", progress=False, out_dir=zoo.MODELS_DIR)
    manifest = zoo.read_manifest()
    manifest["models"]["lenet"]["sha256"] = "0" * 64
    zoo.MANIFEST.write_text(json.dumps(manifest))
    with pytest.warns(UserWarning, match="checksum mismatch"):
        again = zoo.load_model("lenet", profile="quick", progress=False)
    assert again.zoo_info["source"] == "trained now"


def test_snapshot_that_does_not_exist(empty_zoo):
    zoo.load_model("lenet", profile="quick", progress=False)
    with pytest.raises(zoo.ZooError, match="no snapshot"):
        zoo.load_model("lenet", profile="quick", epoch=7)


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "ckpt.pt"

    def broken(tmp):
        tmp.write_bytes(b"half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write(target, broken)
    assert list(tmp_path.iterdir()) == []


def test_atomic_write_runs_before_replace_on_the_complete_file(tmp_path):
    """``before_replace`` sees the finished temporary file; failing there keeps the old file."""
    target = tmp_path / "ckpt.pt"
    target.write_bytes(b"old")
    seen = []
    atomic_write(target, lambda tmp: tmp.write_bytes(b"new"),
                 before_replace=lambda tmp: seen.append((tmp.read_bytes(), target.read_bytes())))
    assert seen == [(b"new", b"old")] and target.read_bytes() == b"new"

    def refuse(tmp):
        raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt):
        atomic_write(target, lambda tmp: tmp.write_bytes(b"newer"), before_replace=refuse)
    assert target.read_bytes() == b"new" and list(tmp_path.iterdir()) == [target]


def test_manifest_entries_are_complete():
    manifest = zoo.read_manifest()["models"]
    for name, info in manifest.items():
        assert name in zoo.RECIPES
        path = zoo.MODELS_DIR / info["file"]
        assert path.exists() and path.stat().st_size < 10_000_000
        assert sha256_file(path) == info["sha256"]
        for key in ("recipe", "test_accuracy", "train_seconds", "device", "history", "profile"):
            assert key in info, f"{name}: manifest lacks {key}"
        for snap in info.get("snapshots", {}).values():
            assert sha256_file(zoo.MODELS_DIR / snap["file"]) == snap["sha256"]


@pytest.mark.slow
def test_committed_checkpoints_reach_their_manifest_accuracy():
    rows = zoo.verify(device="cpu")
    assert rows, "no committed checkpoints"
    bad = [r for r in rows if not r["ok"]]
    assert not bad, f"checkpoints off their manifest accuracy by more than 0.5 points: {bad}"


def test_seeds_are_recorded_beside_the_main_model(empty_zoo):
    zoo.train_model("lenet", "quick", progress=False, out_dir=zoo.MODELS_DIR)
    _, info1 = zoo.train_model("lenet", "quick", progress=False, out_dir=zoo.MODELS_DIR, seed=1)
    assert info1["recipe"]["seed"] == 1
    main = zoo.read_manifest()["models"]["lenet"]
    assert zoo.seeds_of(main) == [0, 1]
    summary = main["test_accuracy_seeds"]
    assert summary["n"] == 2 and summary["min"] <= summary["mean"] <= summary["max"]
    other = zoo.load_model("lenet", profile="quick", seed=1)
    assert other.zoo_info["source"] == "committed checkpoint"
    assert [r["ok"] for r in zoo.verify(["lenet"], device="cpu")] == [True, True]
    with pytest.raises(zoo.ZooError, match="no seed 7"):
        zoo.load_model("lenet", profile="quick", seed=7)
    # retraining the main seed with the same recipe keeps the other seeds
    zoo.train_model("lenet", "quick", progress=False, out_dir=zoo.MODELS_DIR)
    assert zoo.seeds_of(zoo.read_manifest()["models"]["lenet"]) == [0, 1]


def test_a_resumed_run_records_the_snapshots_saved_before_the_interruption(empty_zoo,
                                                                          monkeypatch):
    """Snapshots at epochs 1 and 2 of 3; stopped during epoch 2, resumed: both recorded."""
    from dataclasses import replace
    recipe = replace(zoo.RECIPES["lenet"]["quick"], epochs=3, snapshots=(1, 2))
    monkeypatch.setitem(zoo.RECIPES, "lenet", dict(zoo.RECIPES["lenet"], quick=recipe))
    real_fit = zoo.fit

    def stopped_after_two(*args, callback=None, **kw):
        def cb(epoch, model, history):
            callback(epoch, model, history)
            if epoch == 2:
                raise KeyboardInterrupt
        return real_fit(*args, callback=cb, **kw)
    monkeypatch.setattr(zoo, "fit", stopped_after_two)
    with pytest.raises(KeyboardInterrupt):
        zoo.train_model("lenet", "quick", progress=False, out_dir=zoo.MODELS_DIR)
    monkeypatch.setattr(zoo, "fit", real_fit)
    # A committed training keeps its state beside the checkpoints (to be committed unfinished),
    # so it resumes from a fresh clone, whose cache is empty.
    training = zoo.MODELS_DIR / "training"
    assert sorted(p.name for p in training.iterdir()) == [
        "lenet-quick-seed0.snapshots.json", "lenet-quick-seed0.state.json",
        "lenet-quick-seed0.state.pt", "lenet@epoch1.pt", "lenet@epoch2.pt"]
    assert not (zoo.MODELS_DIR / "lenet@epoch1.pt").exists()   # not beside the committed ones yet
    assert zoo.unfinished_trainings() == [{"name": "lenet", "profile": "quick", "seed": 0,
                                           "epoch": 1, "epochs": 3}]
    assert zoo.resume_command(zoo.unfinished_trainings()[0]) == (
        "python -m lecture_utils.zoo train lenet --profile quick --commit --resume")
    assert zoo.resume_command({"name": "lenet", "profile": "quick", "seed": 3}) == (
        "python -m lecture_utils.zoo train lenet --profile quick --seeds 3 --commit --resume")
    # a save of epoch 2 stopped between its record and its rename: still the state after epoch 1
    record = training / "lenet-quick-seed0.state.json"
    kept = record.read_text()
    record.write_text(json.dumps(dict(json.loads(kept), epoch=2, sha256="0" * 64,
                                      previous_sha256=sha256_file(record.with_suffix(".pt")))))
    assert zoo.unfinished_trainings()[0]["epoch"] == 1
    record.write_text(kept)
    assert not (empty_zoo / "cache" / "models").exists() or not list(
        (empty_zoo / "cache" / "models").glob("*.state.*"))
    _, info = zoo.train_model("lenet", "quick", progress=False, out_dir=zoo.MODELS_DIR,
                              resume=True)
    assert info["history"]["epoch"] == [1, 2, 3]    # resumed after epoch 1 (the last state kept)
    assert sorted(info["snapshots"]) == ["1", "2"]
    for epoch in (1, 2):
        assert zoo.load_model("lenet", profile="quick", epoch=epoch) is not None
    assert list(training.iterdir()) == []           # nothing of the run is left behind
    assert zoo.unfinished_trainings() == []


def test_a_further_seed_needs_its_main_model_first(empty_zoo):
    with pytest.raises(zoo.ZooError, match="first"):
        zoo.train_model("lenet", "quick", progress=False, out_dir=zoo.MODELS_DIR, seed=2)


@pytest.mark.parametrize("text", ["{not json", '{"models": 3}', '{"models": {"lenet": {}}}'])
def test_unreadable_manifest_is_reported_not_used(empty_zoo, text):
    zoo.MANIFEST.write_text(text)
    with pytest.warns(UserWarning, match="git checkout"):
        assert zoo.read_manifest() == {"models": {}}
    with pytest.raises(zoo.ZooError, match="unreadable"):
        zoo.read_manifest(strict=True)


@pytest.mark.parametrize("text", ["{truncated", '{"name": "lenet"}', "[]"])
def test_unreadable_cached_record_means_retraining(empty_zoo, text):
    zoo.load_model("lenet", profile="quick", progress=False)
    (empty_zoo / "cache" / "models" / "lenet-quick.json").write_text(text)
    with pytest.warns(UserWarning, match="unreadable"):
        model = zoo.load_model("lenet", profile="quick", progress=False)
    assert model.zoo_info["source"] == "trained now"


def test_stale_temporary_checkpoints_are_cleaned(empty_zoo):
    import os
    import time
    folder = empty_zoo / "cache" / "models"
    folder.mkdir(parents=True)
    stale = folder / ".lenet-quick.pt.123.tmp"
    stale.write_bytes(b"half a checkpoint")
    os.utime(stale, (time.time() - 7200, time.time() - 7200))
    zoo.load_model("lenet", profile="quick", progress=False)
    assert not stale.exists()


def test_a_record_older_than_a_recipe_field_counts_it_as_the_default():
    """Seeds trained before a field (e.g. ``cutout``) existed still match the current recipe."""
    from dataclasses import asdict
    now = asdict(zoo.RECIPES["all_cnn_c"]["laptop"])
    old = {k: v for k, v in now.items() if k != "cutout"}
    assert zoo._same_recipe(old, now) and zoo._same_recipe(dict(now, seed=2), now)
    assert not zoo._same_recipe(dict(now, cutout=8), now)


def test_recipe_differences_name_every_setting_that_differs():
    from dataclasses import asdict
    a = asdict(zoo.RECIPES["all_cnn_c"]["laptop"])
    assert zoo.recipe_differences(a, asdict(zoo.RECIPES["model_c"]["laptop"])) == {
        "variant": ("all_cnn_c", "model_c")}
    assert zoo.recipe_differences(a, asdict(zoo.RECIPES["model_c"]["laptop"]),
                                  ignore=("variant",)) == {}
    assert zoo.recipe_differences(a, dict(a, seed=3)) == {}
    changed = dict(a, cutout=16, lr=0.1, arch_kwargs=dict(a["arch_kwargs"], width=1.0))
    assert zoo.recipe_differences(a, changed) == {"cutout": (0, 16), "lr": (0.2, 0.1),
                                                  "width": (0.5, 1.0)}
    assert zoo.recipe_differences(a, asdict(zoo.RECIPES["all_cnn_c_noaug"]["laptop"])) == {
        "augment": (True, False)}


def test_vit_noskip_has_the_vits_budget():
    """The no-skip ViT is the matched control of the ViT: same data, epochs and optimiser."""
    for prof in ("quick", "laptop", "full"):
        a, b = zoo.RECIPES["vit"][prof], zoo.RECIPES["vit_noskip"][prof]
        assert b.arch_kwargs == dict(a.arch_kwargs, skip=False)
        assert {**a.__dict__, "arch_kwargs": None} == {**b.__dict__, "arch_kwargs": None}


def test_a_larger_profile_uses_the_committed_checkpoint_unless_training_is_asked(
        empty_zoo, monkeypatch, capsys):
    """On a GPU (full profile) nothing trains on first use: the committed checkpoint serves, with a
    note; train=True or LECTURE_TRAIN=1 trains the profile's recipe."""
    zoo.train_model("lenet", "quick", progress=False, out_dir=zoo.MODELS_DIR)
    monkeypatch.delenv("LECTURE_TRAIN", raising=False)
    model = zoo.load_model("lenet", profile="laptop", progress=False)
    assert model.zoo_info["source"] == "committed checkpoint (a smaller profile)"
    assert "LECTURE_TRAIN=1" in capsys.readouterr().out
    with pytest.raises(zoo.ZooError, match="train=True"):
        zoo.load_model("lenet", profile="laptop", train=True, train_if_missing=False)


def test_default_profile_follows_the_gpu(monkeypatch):
    from lecture_utils import config
    monkeypatch.delenv("LECTURE_PROFILE", raising=False)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (7, 5))
    assert config.default_profile_name(torch.device("cuda")) == "laptop"     # Colab's T4
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (9, 0))
    assert config.default_profile_name(torch.device("cuda")) == "full"       # H100
    assert config.default_profile_name(torch.device("cpu")) == "laptop"


def test_a_stopped_training_says_how_to_continue(monkeypatch, capsys):
    """Ctrl-C (or a time limit's SIGINT) ends `zoo train` with a sentence, not a traceback."""
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr(zoo, "train_model", interrupted)
    with pytest.raises(SystemExit) as stop:
        zoo.main(["train", "lenet", "--profile", "quick"])
    assert stop.value.code == 130 and "--resume to continue" in capsys.readouterr().out


def test_the_gpu_session_script_parses_and_explains_itself():
    """tools/gpu_session.sh (a borrowed GPU's one command) is valid bash and prints its usage."""
    script = zoo.REPO_ROOT / "tools" / "gpu_session.sh"
    assert subprocess.run(["bash", "-n", script]).returncode == 0
    usage = subprocess.run(["bash", script], capture_output=True, text=True)
    assert usage.returncode == 2 and "gpu_session.sh train SECONDS" in usage.stdout


def test_notebooks_run_as_scripts_report_status_time_and_output(tmp_path):
    """tools/run_as_script.py (notebooks where there is no Jupyter): each script's status, its
    time and its printout; one that fails or outlives the limit says so, the others still run."""
    for name, code in {"01_fine.py": "print('the finding: reproduced')",
                       "02_broken.py": "raise ValueError('a bad input')",
                       "03_slow.py": "import time\ntime.sleep(60)"}.items():
        (tmp_path / name).write_text(code)
    run = subprocess.run([sys.executable, zoo.REPO_ROOT / "tools" / "run_as_script.py",
                          tmp_path / "report", *sorted(tmp_path.glob("0*.py")), "--limit", "20"],
                         capture_output=True, text=True)
    assert run.returncode == 1, run.stdout + run.stderr
    records = {r["notebook"]: r for r in json.loads((tmp_path / "report" / "report.json")
                                                    .read_text())}
    assert records["01_fine.py"]["status"] == "ok" and records["01_fine.py"]["seconds"] >= 0
    assert records["02_broken.py"]["status"] == "ValueError: a bad input"
    assert records["03_slow.py"]["status"] == "stopped at the 20 s limit"
    assert "the finding: reproduced" in (tmp_path / "report" / "01_fine.log").read_text()


def test_zoo_list_says_when_a_recipe_differs_from_its_checkpoint(monkeypatch, capsys):
    """A recipe changed for the next checkpoint (a training under way) is visible in `zoo list`."""
    from dataclasses import asdict, replace
    committed = zoo.read_manifest()["models"]["lenet"]
    recipe = zoo._recipe_from(committed)
    changed = replace(recipe, epochs=recipe.epochs + 1)
    monkeypatch.setitem(zoo.RECIPES, "lenet",
                        dict(zoo.RECIPES["lenet"], **{committed["profile"]: changed}))
    zoo.main(["list"])
    out = capsys.readouterr().out
    assert f"differs now: epochs {recipe.epochs} -> {recipe.epochs + 1}" in out
    assert out.count("differs now") == 1 + sum(
        bool(zoo.recipe_differences(m["recipe"],
                                    asdict(zoo.RECIPES[n][m["profile"]])))
        for n, m in zoo.read_manifest()["models"].items() if n != "lenet")


def _record_for(name, **changes):
    """A manifest record for zoo model ``name`` at the laptop recipe, ``changes`` to its fields."""
    from dataclasses import asdict
    return {"file": f"{name}.pt", "sha256": f"sha-of-{name}", "profile": "laptop",
            "test_accuracy": 0.9, "recipe": asdict(zoo.RECIPES[name]["laptop"])} | changes


def test_retraining_due_lists_changed_recipes_and_then_what_they_fine_tune(empty_zoo,
                                                                             monkeypatch):
    """A GPU session's default jobs: a model whose recipe changed starts; a fine-tuned model
    follows once its parent is done, and only if the parent's checkpoint changed since."""
    from dataclasses import asdict
    longer = asdict(zoo.RECIPES["resnet_gap"]["laptop"]) | {"epochs": 1}
    parent = _record_for("resnet_gap", recipe=longer)
    canvas = _record_for("resnet_gap_canvas", init_sha256="sha-of-an-older-resnet_gap")
    zoo._write_json(zoo.MANIFEST, {"models": {"resnet_gap": parent, "resnet_gap_canvas": canvas}})
    due = zoo.retraining_due()
    assert [(d["name"], d["epoch"]) for d in due] == [("resnet_gap", 0)]   # the canvas waits
    assert f"epochs 1 -> {zoo.RECIPES['resnet_gap']['laptop'].epochs}" in due[0]["why"]
    assert zoo.resume_command(due[0]) == (
        "python -m lecture_utils.zoo train resnet_gap --profile laptop --commit --resume")

    parent = _record_for("resnet_gap")                       # the parent has been retrained
    zoo._write_json(zoo.MANIFEST, {"models": {"resnet_gap": parent, "resnet_gap_canvas": canvas}})
    assert [(d["name"], d["why"]) for d in zoo.retraining_due()] == [
        ("resnet_gap_canvas", "resnet_gap was retrained since")]
    canvas["init_sha256"] = parent["sha256"]                 # ... and the canvas after it
    zoo._write_json(zoo.MANIFEST, {"models": {"resnet_gap": parent, "resnet_gap_canvas": canvas}})
    assert zoo.retraining_due() == []

    canvas["init_sha256"] = "sha-of-an-older-resnet_gap"     # the parent still training: wait
    zoo._write_json(zoo.MANIFEST, {"models": {"resnet_gap": parent, "resnet_gap_canvas": canvas}})
    monkeypatch.setattr(zoo, "unfinished_trainings", lambda: [{"name": "resnet_gap"}])
    assert zoo.retraining_due() == []


def test_a_fine_tuned_model_records_the_checkpoint_it_started_from(empty_zoo, monkeypatch):
    """As resnet_gap_canvas does from resnet_gap (here a LeNet, to keep the test short)."""
    from dataclasses import replace
    tuned = replace(zoo.RECIPES["lenet"]["quick"], init_from="lenet", train_subset=256)
    monkeypatch.setitem(zoo.RECIPES, "lenet_tuned", {"quick": tuned})
    _, info = zoo.train_model("lenet_tuned", "quick", progress=False)
    parent = zoo.load_model("lenet", profile="quick", progress=False)
    assert info["init_sha256"] == parent.zoo_info["sha256"]


def test_loads_are_listed_for_the_notebook_stamp_and_a_retrained_checkpoint_is_named(
        empty_zoo, monkeypatch):
    """With LECTURE_ZOO_USES set (as `tools/notebooks.py execute` does), every committed checkpoint
    loaded is listed with its sha256; `stale_uses` names those data/models no longer holds."""
    zoo.train_model("lenet", "quick", progress=False, out_dir=zoo.MODELS_DIR)
    uses_file = empty_zoo / "uses.jsonl"
    monkeypatch.setenv(zoo.USES_ENV, str(uses_file))
    zoo.load_model("lenet", profile="quick")
    zoo.load_model("lenet", profile="quick")             # twice: listed once
    uses = zoo.read_uses(uses_file)
    sha = zoo.read_manifest()["models"]["lenet"]["sha256"]
    assert uses == {"lenet": sha} and zoo.stale_uses(uses) == []
    retrained = {"lenet": "0" * 64, "lenet@seed1": "2" * 64, "resnet9000": "1" * 64}
    assert zoo.stale_uses(retrained) == [
        f"lenet 000000000000 (data/models now holds {sha[:12]})",
        "lenet@seed1 222222222222 (data/models now holds none)",
        "resnet9000 111111111111 (data/models now holds none)"]
    monkeypatch.delenv(zoo.USES_ENV)
    zoo.load_model("lenet", profile="quick")             # without the variable: nothing written
    assert zoo.read_uses(uses_file) == uses


def test_a_seed_or_a_snapshot_is_named_by_its_own_checksum():
    models = zoo.read_manifest()["models"]
    seeded = next(n for n, m in models.items() if m.get("seeds"))
    snapped = next(n for n, m in models.items() if m.get("snapshots"))
    seed, epoch = sorted(models[seeded]["seeds"])[0], sorted(models[snapped]["snapshots"])[0]
    assert zoo.committed_sha256(f"{seeded}@seed{seed}") == models[seeded]["seeds"][seed]["sha256"]
    assert (zoo.committed_sha256(f"{snapped}@epoch{epoch}")
            == models[snapped]["snapshots"][epoch]["sha256"])
    assert zoo.committed_sha256(seeded) == models[seeded]["sha256"]
    assert zoo.committed_sha256(f"{seeded}@seed99") is None
