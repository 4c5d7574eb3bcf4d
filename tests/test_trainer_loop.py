"""The trainer's loop: many steps per dispatch (`zoo._trainer.make_chunk`), rollbacks
without a recompilation, and a progress bar at the summary's rate (issue 19, item 1).

Tiny runs (d = 4, width 8): each test takes a few seconds.
"""

import re
import warnings

import equinox as eqx
import jax
import numpy as np
import pytest
from helpers import on_compile

import zoo
from zoo import _trainer
from zoo._optim import init_state, make_optimizer

# Under `-n N --dist loadgroup` the modules that train tiny runs (test_api_overrides, test_cli,
# test_hardening, test_reliability, test_trainer_loop, test_zoo) run on one worker: each
# module-scoped run is built once, and equal training configurations share a compilation.
pytestmark = pytest.mark.xdist_group("tiny-runs")

PRESET, DIM = "allen-cahn-twobody", 4
MODEL = zoo.ModelConfig(width=8, depth=2)
CONFIG = zoo.TrainConfig(
    steps=8, batch=8, num_samples=2, log_every=8, eval_every=0, checkpoint_every=0, n_test=16
)
# Adam at this rate: steps 1 and 2 finite, step 3's update overflows float32.
DIVERGES_AT_3 = CONFIG.replace(lr=2e3, schedule="constant")


def _start(config):
    preset = zoo.get_preset(PRESET)
    run = preset.run_config(DIM, train=config, model=MODEL)
    pde = run.pde.build()
    init_key, data_key = _trainer._keys(config.seed)
    model = zoo.build_model(pde, MODEL, key=init_key)
    return model, init_state(make_optimizer(config, model), model), pde, data_key


def _leaves(tree):
    return [np.asarray(x) for x in jax.tree.leaves(eqx.filter(tree, eqx.is_array))]


def _same(a, b) -> bool:
    la, lb = _leaves(a), _leaves(b)
    return len(la) == len(lb) and all(np.array_equal(x, y) for x, y in zip(la, lb))


def _one_at_a_time(config, steps):
    model, state, pde, data_key = _start(config)
    step = _trainer.make_step(config)
    losses = []
    for i in range(steps):
        model, state, loss, _ = step(model, state, pde, data_key, i)
        losses.append(float(loss))
    return model, state, losses


@pytest.mark.parametrize(
    "config, chunks",
    [
        (CONFIG, [(0, 5)]),
        # Two phases (Adam, then the natural gradient): a chunk ends at the warm-up's end.
        (
            CONFIG.replace(optimizer="natural-gradient", lr=0.3, warmup=CONFIG.replace(steps=2)),
            [(0, 2), (2, 3)],
        ),
    ],
)
def test_a_chunk_gives_the_parameters_of_stepping_one_at_a_time(config, chunks):
    # Bit for bit, not within a tolerance: the loop body is the same traced step on the
    # same keys (`fold_in(data_key, step)`).
    reference, reference_state, reference_losses = _one_at_a_time(config, 5)
    model, state, pde, data_key = _start(config)
    chunk = _trainer.make_chunk(config)
    losses = []
    for start, n in chunks:
        model, state, chunk_losses, done = chunk(model, state, pde, data_key, start, n)
        assert int(done) == n
        losses += np.asarray(chunk_losses)[:n].tolist()
    assert losses == reference_losses
    assert _same(model, reference) and _same(state, reference_state)
    if len(chunks) > 1:
        with pytest.raises(ValueError, match="leaves its phase"):
            chunk(model, state, pde, data_key, 0, 5)


def test_a_non_finite_step_inside_a_chunk_keeps_the_last_finite_state():
    reference, reference_state, reference_losses = _one_at_a_time(DIVERGES_AT_3, 2)
    model, state, pde, data_key = _start(DIVERGES_AT_3)
    chunk = _trainer.make_chunk(DIVERGES_AT_3)
    model, state, losses, done = chunk(model, state, pde, data_key, 0, 6)
    assert int(done) == 2  # Step 3 (index 2) is the first non-finite one.
    assert np.asarray(losses)[:2].tolist() == reference_losses
    assert _same(model, reference) and _same(state, reference_state)


def _without_timing(records):
    timing = ("its_per_s", "time_s", "eval_s")
    return [{k: v for k, v in r.items() if k not in timing} for r in records]


def test_a_rollback_inside_a_chunk_does_not_recompile(tmp_path, monkeypatch):
    # A configuration of its own (batch 6), so that no earlier test compiled its loop.
    config = DIVERGES_AT_3.replace(batch=6, rollbacks=2, rollback_factor=0.1, log_every=4)
    events = []
    rollback, evaluate, make_chunk = _trainer._rollback, _trainer._evaluate, _trainer.make_chunk

    def marked(event, function):
        def run(*args, **kwargs):
            events.append(event)
            return function(*args, **kwargs)

        return run

    monkeypatch.setattr(_trainer, "_rollback", marked("rollback", rollback))
    # The final evaluation compiles its own functions.
    monkeypatch.setattr(_trainer, "_evaluate", marked("evaluate", evaluate))
    monkeypatch.setattr(_trainer, "make_chunk", lambda *a: marked("chunk", make_chunk(*a)))

    def run(out, **kwargs):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", zoo.RollbackWarning)
            return zoo.train(
                PRESET, DIM, config=config, model=MODEL, out=out, progress=False, plots=False,
                **kwargs,
            )  # fmt: skip

    with on_compile(lambda: events.append("compile")):
        chunked = run(tmp_path / "chunked")
    assert events.count("rollback") == 1 and "compile" in events[: events.index("evaluate")]
    # The first chunk compiles the loop; nothing compiles after it until the final
    # evaluation: not the next chunk (on the first's outputs), not the loop with the
    # smaller learning rate after the rollback, nor on the restored checkpoint's arrays.
    second = events.index("chunk", events.index("chunk") + 1)
    assert "compile" not in events[second : events.index("evaluate")], events
    # The same run one step per dispatch (a callback may stop it after any step): the
    # same rollback (at step 3, inside the chunk of steps 2 to 4), records and model.
    stepped = run(tmp_path / "stepped", callback=lambda step, loss: None)
    records = zoo.read_metrics(tmp_path / "chunked")
    assert [r["diverged_at"] for r in records if r.get("event") == "rollback"] == [3]
    assert _without_timing(records) == _without_timing(zoo.read_metrics(tmp_path / "stepped"))
    assert _same(chunked.model, stepped.model)


def test_the_progress_bar_shows_the_summary_rate(capsys):
    # Eight steps, as test_zoo's and test_hardening's runs: the loop is compiled once for all.
    config = CONFIG.replace(log_every=2)
    solver = zoo.train(PRESET, DIM, config=config, model=MODEL, progress=True, plots=False)
    err = capsys.readouterr().err
    shown = re.findall(r"([\d.]+)it/s", err)
    assert shown, err
    assert shown[-1] == f"{solver.card['its_per_s']:.2f}"
    assert solver.card["compile_s"] > 0
