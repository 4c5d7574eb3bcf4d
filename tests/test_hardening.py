"""Faults during checkpoint writes, and determinism across fresh processes."""

import json
import math
import os
import shutil
import tempfile
from pathlib import Path

import pytest
from helpers import TINY_RUN_FLAGS, run_python

import models
import zoo

# Under `-n N --dist loadgroup` the modules that train tiny runs (test_api_overrides, test_cli,
# test_hardening, test_reliability, test_trainer_loop, test_zoo) run on one worker: each
# module-scoped run is built once, and equal training configurations share a compilation.
pytestmark = pytest.mark.xdist_group("tiny-runs")

TINY = [
    "allen-cahn-twobody",
    *TINY_RUN_FLAGS,
    "--steps",
    "6",
    "--log-every",
    "2",
    "--eval-every",
    "6",
    "--checkpoint-every",
    "3",
    "--n-test",
    "64",
    "--no-progress",
    "--no-plots",
]


def test_crash_during_a_checkpoint_write_keeps_the_previous_one(tmp_path, monkeypatch):
    config = zoo.TrainConfig(
        steps=6, batch=8, num_samples=2, log_every=2, eval_every=6, checkpoint_every=3, n_test=64
    )
    out = tmp_path / "run"
    zoo.train(
        "allen-cahn-twobody",
        4,
        config=config,
        model=zoo.ModelConfig(width=8, depth=2),
        out=out,
        progress=False,
        plots=False,
        until=3,
    )
    path = out / "checkpoint.eqx"
    before = path.read_bytes()
    assert models.read_header(path)["metadata"]["step"] == 3

    # The process dies after the new file is written but before it replaces the old one.
    targets = []
    replace = os.replace

    def crash(src, dst, *args, **kwargs):
        targets.append(Path(dst).name)
        if Path(dst).name == "checkpoint.eqx":
            raise KeyboardInterrupt("killed during the checkpoint write")
        return replace(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(KeyboardInterrupt):
        zoo.resume(out, progress=False)
    monkeypatch.undo()
    assert "checkpoint.eqx" in targets, targets
    assert path.read_bytes() == before, "the previous checkpoint must be untouched"
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")], "temp files are removed"
    # ... and the run resumes from it to the end.
    zoo.resume(out, progress=False)
    assert models.read_header(path)["metadata"]["step"] == 6


def _run_fresh_process(out: Path) -> list[dict]:
    proc = run_python("-m", "zoo", "train", *TINY, "--out", out)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.slow
def test_same_seed_same_result_in_two_fresh_processes(tmp_path):
    a = _run_fresh_process(tmp_path / "a")
    b = _run_fresh_process(tmp_path / "b")
    keys = ("step", "loss", "rel_l2")
    assert [{k: r.get(k) for k in keys} for r in a] == [{k: r.get(k) for k in keys} for r in b]
    assert any(r.get("rel_l2") is not None for r in a)


# --- a failing write: the run moves, nothing is lost ------------------------------------

FAULT_CONFIG = zoo.TrainConfig(
    steps=8, batch=8, num_samples=2, log_every=1, eval_every=4, checkpoint_every=2, n_test=64
)
FAULT_MODEL = zoo.ModelConfig(width=8, depth=2)


def _fault_run(out=None, config=FAULT_CONFIG, **kwargs):
    return zoo.train(
        "allen-cahn-twobody",
        4,
        config=config,
        model=FAULT_MODEL,
        out=out,
        progress=False,
        **kwargs,
    )


def _same_model(a, b) -> bool:
    import equinox as eqx
    import jax
    import numpy as np

    la, lb = (jax.tree.leaves(eqx.filter(m, eqx.is_array)) for m in (a, b))
    return len(la) == len(lb) and all(np.array_equal(x, y) for x, y in zip(la, lb))


def _break_directory(path: Path):
    """After step 3, the run directory turns into a plain file: every later write under it
    fails with a real `OSError` (root ignores permissions, so chmod would not do)."""

    def callback(step, loss):
        if step == 3:
            shutil.rmtree(path)
            path.write_text("no longer a directory")

    return callback


def test_a_failing_write_moves_the_run_to_a_rescue_directory(tmp_path):
    reference = _fault_run(tmp_path / "reference", plots=False)
    out = tmp_path / "run"
    with pytest.warns(zoo.CheckpointWriteWarning, match=f"cannot write to `{out}`") as caught:
        solver = _fault_run(out, plots=False, callback=_break_directory(out))
    assert len(caught) == 1, [str(w.message) for w in caught]
    rescue = Path(solver.card["run_dir"])
    assert str(rescue) in str(caught[0].message) and rescue != out
    # Training never noticed: the final state is the uninterrupted run's.
    assert _same_model(solver.model, reference.model)
    # The rescue directory holds the whole run, from step 1 on, and loads.
    timing = ("its_per_s", "eval_s", "time_s")  # Wall-clock times differ between runs.
    assert zoo.read_metrics(rescue) == [
        {k: v for k, v in r.items() if k not in timing} | {k: r2[k] for k in timing if k in r2}
        for r, r2 in zip(zoo.read_metrics(tmp_path / "reference"), zoo.read_metrics(rescue))
    ]
    assert [r["step"] for r in zoo.read_metrics(rescue)] == list(range(1, 9))
    loaded = zoo.load(rescue)
    assert loaded.card["step"] == 8 and _same_model(loaded.model, reference.model)
    assert loaded.card["rel_l2"] == reference.card["rel_l2"]
    shutil.rmtree(rescue)


def test_a_failing_rescue_keeps_the_state_in_memory(tmp_path, monkeypatch):
    reference = _fault_run(plots=False)

    def no_space(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(tempfile, "mkdtemp", no_space)
    out = tmp_path / "run"
    with pytest.warns(zoo.CheckpointWriteWarning, match="training continues in memory only"):
        solver = _fault_run(out, plots=False, callback=_break_directory(out))
    assert solver.card["run_dir"] is None and solver.card["steps"] == 8
    assert _same_model(solver.model, reference.model)
    assert solver.card["rel_l2"] == reference.card["rel_l2"]


def test_cli_reports_where_a_moved_run_went(tmp_path, monkeypatch, capsys):
    from zoo._cli import main

    out = tmp_path / "run"
    import zoo._trainer as trainer

    train = trainer.train

    def train_and_break(*args, **kwargs):
        return train(*args, **kwargs, callback=_break_directory(out))

    monkeypatch.setattr(trainer, "train", train_and_break)
    code = main(["train", *TINY, "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 0, err
    lines = err.strip().splitlines()
    assert any(line.startswith("python -m zoo: warning: cannot write to") for line in lines), err
    moved = [line for line in lines if "the run is in" in line]
    assert len(moved) == 1, err
    rescue = Path(moved[0].split("`")[1])
    assert zoo.load(rescue).card["step"] == 6
    shutil.rmtree(rescue)


# --- a non-finite loss: optional rollback with a smaller learning rate ------------------


def test_rollback_restarts_from_the_checkpoint_with_a_smaller_lr(tmp_path):
    out = tmp_path / "run"
    # lr 1e30 diverges at once; 1e30 * 1e-8^4 = 1e-2 trains.
    config = FAULT_CONFIG.replace(lr=1e30, schedule="constant", rollbacks=5, rollback_factor=1e-8)
    with pytest.warns(zoo.RollbackWarning) as caught:
        solver = _fault_run(out, config=config, plots=True)
    rollbacks = [r for r in zoo.read_metrics(out) if r.get("event") == "rollback"]
    assert len(caught) == len(rollbacks) >= 1
    assert "back to the checkpoint of step" in str(caught[0].message)
    lrs = [r["lr"] for r in rollbacks]
    assert lrs == pytest.approx([1e30 * 1e-8 ** (i + 1) for i in range(len(lrs))])
    # The run finished with finite losses, and its config carries the reduced rate, so a
    # resume would continue with it.
    records = [r for r in zoo.read_metrics(out) if "loss" in r]
    assert [r["step"] for r in records] == list(range(1, 9))
    assert all(math.isfinite(r["loss"]) for r in records)
    config_json = json.loads((out / "config.json").read_text())["train"]
    assert config_json["lr"] == pytest.approx(lrs[-1])
    assert config_json["rollbacks"] == 5 - len(lrs)
    assert solver.card["steps"] == 8 and math.isfinite(solver.card["rel_l2"])
    assert (out / "curves.png").is_file()


def test_rollbacks_are_bounded(tmp_path):
    # One rollback to lr 1e22 still diverges: then the run stops as without rollbacks.
    config = FAULT_CONFIG.replace(lr=1e30, schedule="constant", rollbacks=1, rollback_factor=1e-8)
    with (
        pytest.warns(zoo.RollbackWarning),
        pytest.raises(
            zoo.NonFiniteLossError, match=r"at step \d+; the last finite checkpoint \(step 0\)"
        ),
    ):
        _fault_run(tmp_path / "run", config=config, plots=False)


@pytest.mark.parametrize("factor", [0.0, 1.0, 1.5, -0.5, float("nan")])
def test_rollback_factor_is_checked(factor):
    with pytest.raises(ValueError, match="`TrainConfig.rollback_factor` must be a number in"):
        zoo.TrainConfig(rollback_factor=factor)
