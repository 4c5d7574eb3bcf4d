"""`zoo.train` / `zoo.finetune` take `TrainConfig` and `ModelConfig` fields as keyword
arguments (issue 19, item 3): the names of the CLI's flags, applied with `.replace` on
the recipe's (or the given) configs; unknown or invalid ones are refused before `out`."""

import inspect

import pytest

import pdes
import zoo
from zoo._config import with_cadence

# Under `-n N --dist loadgroup` the modules that train tiny runs (test_api_overrides, test_cli,
# test_hardening, test_reliability, test_trainer_loop, test_zoo) run on one worker: each
# module-scoped run is built once, and equal training configurations share a compilation.
pytestmark = pytest.mark.xdist_group("tiny-runs")

TINY = dict(batch=8, n_test=100, width=8, depth=2, progress=False, plots=False)


@pytest.fixture(scope="module")
def solver():
    """The "best" recipe of a two-phase preset (Adam warm-up, then natural gradient). At
    test_cli's tiny run's dimension, steps and estimator samples (only the learning rate
    differs, which is not compiled in): on their common worker both phases compile once."""
    return zoo.train("allen-cahn-twobody", 4, steps=6, lr=0.25, num_samples=2, **TINY)


def test_no_override_name_is_ambiguous():
    train_fields = set(zoo.TrainConfig.__dataclass_fields__)
    model_fields = set(zoo.ModelConfig.__dataclass_fields__)
    assert not train_fields & model_fields
    for fn in (zoo.train, zoo.finetune):
        named = set(inspect.signature(fn).parameters) - {"overrides"}
        assert not named & (train_fields | model_fields), fn.__name__


def test_overrides_reach_the_run_config(solver):
    model, train = zoo.get_preset("allen-cahn-twobody").recipe("best", 4)
    cfg = solver.config
    # The recipe with the overrides on top: steps, lr, batch, num_samples, n_test;
    # eval_every from steps (ten evaluations, at least every step); the warm-up keeps its
    # share.
    assert cfg.train == train.replace(
        steps=6, lr=0.25, batch=8, num_samples=2, n_test=100, eval_every=1
    )
    assert cfg.train.optimizer == train.optimizer == "natural-gradient"
    assert 1 <= cfg.train.warmup.steps < 6
    assert cfg.model == model.replace(width=8, depth=2)
    assert solver.card["steps"] == 6


def test_config_and_overrides_combine():
    config = zoo.TrainConfig(lr=2e-3, schedule="constant", eval_every=2)
    solver = zoo.train("poisson-twobody", 3, config=config, steps=3, **TINY)
    train = solver.config.train
    assert (train.lr, train.schedule, train.steps, train.batch) == (2e-3, "constant", 3, 8)
    # `steps` without `eval_every` evaluates ten times (at least every step), over the
    # config's cadence too, as the CLI's `--steps` over the recipe's; `eval_every` wins.
    assert train.eval_every == 1
    solver = zoo.train("poisson-twobody", 3, config=config, steps=3, eval_every=0, **TINY)
    assert solver.config.train.eval_every == 0
    assert solver.config.train.lr == 2e-3


def test_finetune_overrides(solver):
    tuned = zoo.finetune(solver, steps=2, lr=1e-4, n_test=100, progress=False, plots=False)
    train = tuned.config.train
    assert train == solver.config.train.replace(steps=2, lr=1e-4, eval_every=1)
    assert tuned.config.model == solver.config.model


def test_finetune_pde_seed_alone_takes_another_instance_of_the_solvers_preset(solver):
    tuned = zoo.finetune(solver, pde_seed=3, n_test=100, progress=False, plots=False)
    assert tuned.config.preset == "allen-cahn-twobody"
    assert tuned.pde.seed == 3 and solver.pde.seed == 0
    expected = pdes.get("allen-cahn-twobody", dim=4, seed=3)
    assert (tuned.pde.coefficients == expected.coefficients).all()
    # Without a preset to take another instance of, pde_seed alone is refused.
    bare = zoo.Solver(solver.model, solver.pde, None, {})
    with pytest.raises(ValueError, match="`pde_seed` is only for a preset name"):
        zoo.finetune(bare, pde_seed=3, progress=False)


def test_unknown_override_is_refused_with_a_suggestion(solver, tmp_path):
    out = tmp_path / "run"
    with pytest.raises(ValueError, match=r"'stpes'\. Did you mean 'steps'\?.*batch.*width"):
        zoo.train("poisson-twobody", 3, stpes=3, out=out, **TINY)
    with pytest.raises(ValueError, match="Did you mean 'lr'"):
        zoo.train(pdes.get("poisson-twobody", dim=3), l_r=1e-3, out=out, progress=False)
    with pytest.raises(ValueError, match=r"zoo.finetune.*Did you mean 'steps'"):
        zoo.finetune(solver, stepz=3, out=out)
    with pytest.raises(ValueError, match="keeps the solver's network.*width"):
        zoo.finetune(solver, width=16, out=out)
    assert not out.exists()


@pytest.mark.parametrize(
    "override, message",
    [
        (dict(steps=0), r"`TrainConfig.steps` must be an int >= 1, got 0"),
        (dict(lr=-1.0), r"`TrainConfig.lr` must be a positive finite number"),
        (dict(width=0), r"`ModelConfig.width` must be an int >= 1, got 0"),
        (dict(optimizer="adamm"), r"`TrainConfig.optimizer` must be one of"),
    ],
)
def test_invalid_override_gives_the_config_error(tmp_path, override, message):
    out = tmp_path / "run"
    with pytest.raises(ValueError, match=message):
        zoo.train("poisson-twobody", 3, out=out, progress=False, **override)
    assert not out.exists()


def test_invalid_override_on_a_pde_instance_and_in_finetune(solver, tmp_path):
    out = tmp_path / "run"
    with pytest.raises(ValueError, match=r"`TrainConfig.steps` must be an int >= 1"):
        zoo.train(pdes.get("poisson-twobody", dim=3), steps=0, progress=False)
    with pytest.raises(ValueError, match=r"`TrainConfig.batch` must be an int >= 1"):
        zoo.finetune(solver, batch=0, out=out, progress=False)
    assert not out.exists()


def test_with_cadence():
    assert with_cadence({}) == {}
    assert with_cadence({"lr": 1.0}) == {"lr": 1.0}
    assert with_cadence({"steps": 50}) == {"steps": 50, "eval_every": 5}
    assert with_cadence({"steps": 5}) == {"steps": 5, "eval_every": 1}
    assert with_cadence({"steps": 50, "eval_every": 0}) == {"steps": 50, "eval_every": 0}
    assert with_cadence({"steps": "x"}) == {"steps": "x"}  # left for TrainConfig to refuse
