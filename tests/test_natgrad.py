"""The Woodbury natural-gradient optimiser, the protocol recipe's pieces (initialisation,
sampling without replacement), against closed forms and dense linear algebra."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import on_compile
from jax.scipy.linalg import cho_factor, cho_solve

import models
import pdes
import stde
import zoo
from zoo import _trainer
from zoo._natgrad import NaturalGradient, woodbury_direction
from zoo._optim import init_state, make_optimizer
from zoo._presets import protocol_init

# A small network: the optimisers' behaviour, not the preset's 128-wide model, is tested.
SMALL = zoo.ModelConfig(width=16, depth=3)


def _random(key, n, p):
    kj, kr, kp = jax.random.split(key, 3)
    jac = jax.random.normal(kj, (n, p), jnp.float32)
    return jac, jax.random.normal(kr, (n,)), jax.random.normal(kp, (p,))


def _flat(tree, rows: int | None = None) -> np.ndarray:
    """A pytree as one float64 vector, or, with `rows`, a Jacobian pytree (each leaf with
    a leading axis of `rows`) as one `rows x parameters` matrix."""
    leaves = [np.asarray(v, np.float64) for v in jax.tree.leaves(tree)]
    if rows is None:
        return np.concatenate([v.ravel() for v in leaves])
    return np.concatenate([v.reshape(rows, -1) for v in leaves], axis=1)


def test_undamped_step_solves_a_linear_least_squares_problem():
    # r(theta) = A theta - b with fewer rows than unknowns: one undamped Gauss-Newton step
    # (lr 1, no momentum) lands on a solution, r = 0.
    a, b, theta = _random(jax.random.PRNGKey(0), 8, 20)
    params = {"theta": theta}
    state = NaturalGradient().init(params)
    r = a @ theta - b
    step = woodbury_direction({"theta": a}, r, state.direction, damping=0.0, momentum=0.0)
    after = theta - step["theta"]
    np.testing.assert_allclose(a @ after - b, 0.0, atol=2e-4)
    # ... and it is the minimum-norm step: orthogonal to A's null space.
    np.testing.assert_allclose(step["theta"], np.linalg.pinv(np.asarray(a)) @ r, atol=2e-4)


def test_undamped_step_with_more_rows_than_unknowns_is_least_squares():
    # r(theta) = A theta - b with more rows than unknowns (the step solves the P x P
    # system then): one undamped step lands on the least-squares solution.
    a, b, theta = _random(jax.random.PRNGKey(4), 20, 8)
    r = a @ theta - b
    step = woodbury_direction({"theta": a}, r, {"theta": jnp.zeros(8)}, damping=0.0, momentum=0.0)
    want = np.linalg.lstsq(np.asarray(a, np.float64), np.asarray(b, np.float64), rcond=None)[0]
    np.testing.assert_allclose(theta - step["theta"], want, atol=2e-4)


@pytest.mark.parametrize("points", [6, 80])  # fewer / more residuals than the 56 parameters
@pytest.mark.parametrize("momentum", [0.0, 0.7])
def test_woodbury_equals_the_dense_parameter_space_step(momentum, points):
    # On a small network's per-point residual Jacobian: J^T (J J^T + lam I)^-1 (r - mu J phi)
    # + mu phi equals the parameter-space solve (J^T J + lam I)^-1 (J^T r + lam mu phi).
    key = jax.random.PRNGKey(1)
    net = models.MLP(3, width=5, depth=3, key=key)
    x = jax.random.normal(jax.random.PRNGKey(2), (points, 3))
    params, static = eqx.partition(net, eqx.is_inexact_array)
    jac = jax.jit(jax.vmap(lambda y: jax.grad(lambda p: eqx.combine(p, static)(y))(params)))(x)
    r = jax.vmap(net)(x) - jnp.sin(x[:, 0])
    prev = jax.tree.map(
        lambda p: jax.random.normal(jax.random.PRNGKey(3), p.shape, p.dtype), params
    )
    damping = 1e-2
    got = jax.jit(lambda *a: woodbury_direction(*a, damping=damping, momentum=momentum))(
        jac, r, prev
    )
    flat_j, flat_prev = _flat(jac, rows=points), _flat(prev)
    assert (points > flat_j.shape[1]) == (points == 80)
    lam = damping * np.trace(flat_j @ flat_j.T) / points
    dense = np.linalg.solve(
        flat_j.T @ flat_j + lam * np.eye(flat_j.shape[1]),
        flat_j.T @ np.asarray(r, np.float64) + lam * momentum * flat_prev,
    )
    np.testing.assert_allclose(_flat(got), dense, rtol=2e-3, atol=2e-4)


@pytest.mark.parametrize("points", [64, 200])  # fewer / more residuals than the 100 parameters
def test_a_failed_float32_factorisation_retries_with_ten_times_the_damping(points):
    # A near-singular Gram matrix with one dominant direction: 40 of the 100 columns
    # carry a common mode plus a rank-10 rest (the others are zero, as frozen parameters'
    # are), so J has rank 11, far below both sizes of the Gram matrix, and with relative
    # damping 1e-6 the float32 Cholesky factor is not finite (checked here: the premise),
    # and with 1e-5 it is. The step is then the float32 step at damping 1e-5 (in float64
    # it would differ: at this conditioning float32 solves carry ~10% errors), not 1e-4's.
    k1, k2, k3, k4 = jax.random.split(jax.random.PRNGKey(7), 4)
    f32 = jnp.float32  # the test session may have 64-bit JAX enabled
    rest = jax.random.normal(k2, (points, 10), f32) @ jax.random.normal(k4, (10, 40), f32)
    live = 1e2 * jax.random.normal(k1, (1, 40), f32) + rest  # rank 11
    jac = jnp.concatenate([live, jnp.zeros((points, 60), f32)], axis=1)
    r = jax.random.normal(k3, (points,), f32)
    sample_space = points < 100
    gram = jac @ jac.T if sample_space else jac.T @ jac
    eye = jnp.eye(gram.shape[0], dtype=f32)
    lam = jnp.trace(gram) / points

    def step(damping):
        factor = cho_factor(gram + damping * lam * eye)
        if sample_space:
            return jac.T @ cho_solve(factor, r)
        return cho_solve(factor, jac.T @ r)

    assert not jnp.all(jnp.isfinite(cho_factor(gram + 1e-6 * lam * eye)[0]))
    zero = {"w": jnp.zeros(100, f32)}
    got = woodbury_direction({"w": jac}, r, zero, damping=1e-6, momentum=0.0)["w"]

    def distance(damping):
        return float(jnp.linalg.norm(got - step(damping)) / jnp.linalg.norm(got))

    assert distance(1e-5) < 1e-2 and distance(1e-4) > 5e-2
    # A Gram matrix that is not finite stays so: no damping hides it.
    bad = woodbury_direction({"w": jac.at[0, 0].set(jnp.nan)}, r, zero, damping=1e-6, momentum=0.0)
    assert not jnp.all(jnp.isfinite(bad["w"]))


def _one_trainer_step(pde, net, config, key):
    """One natural-gradient step of the trainer on `net` (its parameters before and
    after) and the residuals of the step's own collocation points as a function of the
    parameters, for checks against dense references."""
    from zoo import _distributed as dist
    from zoo._presets import make_estimator

    params, static = eqx.partition(net, eqx.is_inexact_array)
    mesh = dist.make_mesh(1, config.batch)
    state = NaturalGradient().init(params)
    _, after, _ = jax.jit(
        lambda p, s: _trainer._natural_gradient_update(
            p, static, s, pde, key, jnp.asarray(config.lr), config, "none", jnp.float32, mesh
        )
    )(params, state)
    x, keys, _ = jax.jit(lambda: _trainer._collocation(pde, key, config, jnp.float32, mesh))()

    def residuals(p):
        model, est = eqx.combine(p, static), make_estimator(config)
        return jax.vmap(lambda y, k: pde.residual(model, y, estimator=est, key=k))(x, keys)

    return params, after, residuals


def test_trainer_step_with_vector_residuals_is_the_dense_gauss_newton_step():
    # The gradient-enhanced KdV gives three residuals per point: the trainer's step must
    # pair each of the batch x 3 residuals with its own Jacobian row. Against the dense
    # damped Gauss-Newton step from jax.jacrev of the stacked residual vector. 36 points:
    # on a CPU the rows come in three chunks of 12, which must keep their order.
    from zoo._presets import build_model

    pde = pdes.get("kdv-1d-gradient-enhanced")
    config = zoo.TrainConfig(
        steps=2,
        batch=36,
        estimator="exact",
        optimizer="natural-gradient",
        damping=1e-2,
        momentum=0.0,
        schedule="constant",
        lr=1.0,
    )
    net = build_model(pde, zoo.ModelConfig(width=4, depth=2), key=jax.random.PRNGKey(0))
    params, got, batch_residuals = _one_trainer_step(pde, net, config, jax.random.PRNGKey(5))

    def residuals(p):
        return batch_residuals(p).reshape(-1)

    r = np.asarray(residuals(params), np.float64)
    assert r.shape == (36 * 3,)
    flat_j = _flat(jax.jacrev(residuals)(params), rows=r.size)
    lam = 1e-2 * np.trace(flat_j @ flat_j.T) / r.size
    dense = np.linalg.solve(flat_j.T @ flat_j + lam * np.eye(flat_j.shape[1]), flat_j.T @ r)
    np.testing.assert_allclose(_flat(params) - _flat(got), dense, rtol=2e-3, atol=2e-5)


def test_high_dimensional_two_body_step_removes_the_error_its_batch_sees():
    # An affine network with a radial term (the two-body best recipe's above d = 10 000)
    # by natural gradient with the exact operator, rate 1, no momentum and damping 1e-6:
    # on Poisson the residual is linear in the parameters, so one trainer step must solve
    # its batch's equations (randomised block Kaczmarz, an e-fold per 2 d points). Here at
    # d = 300 (302 parameters: w, b and the radial term's a; 100 points).
    from zoo._presets import build_model

    model_config = zoo.ModelConfig(depth=1, radial=True)
    config = zoo.TrainConfig(
        optimizer="natural-gradient", estimator="exact", batch=100, momentum=0.0, lr=1.0,
        schedule="constant", damping=1e-6,
    )  # fmt: skip
    pde = pdes.get("poisson-twobody", dim=300)
    net = build_model(pde, model_config, key=jax.random.PRNGKey(0))
    params, after, residuals = _one_trainer_step(pde, net, config, jax.random.PRNGKey(3))
    assert sum(x.size for x in jax.tree.leaves(params)) == 302
    before, now = np.linalg.norm(residuals(params)), np.linalg.norm(residuals(after))
    assert now < 1e-3 * before


@pytest.mark.parametrize(
    "batch, chunk", [(30, None), (7, None), (34, None), (64, None), (64, 8), (64, 64)]
)
def test_jacobian_chunks_equal_one_vmap(batch, chunk):
    # 30 points: two interleaved chunks of 15; 7: one; 34: seventeen of 2; 64: four of 16
    # (the default 16), eight of 8 (`jacobian_chunk=8`), or one of 64.
    from zoo import _distributed as dist

    def f(y, k):
        return jnp.sin(y) * k[0], {"sum": jnp.sum(y**2) + k[1]}

    y = jax.random.normal(jax.random.PRNGKey(0), (batch, 3))
    k = jax.random.normal(jax.random.PRNGKey(1), (batch, 2))
    got = _trainer._in_chunks(f, dist.make_mesh(1, batch), chunk, y, k)
    want = jax.vmap(f)(y, k)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6), got, want)


def test_natural_gradient_training_beats_adam_at_equal_steps():
    # A tiny Poisson problem: 60 natural-gradient steps against 60 Adam steps (same points).
    base = zoo.TrainConfig(steps=60, batch=32, estimator="exact", n_test=500, eval_every=0)
    kwargs = dict(progress=False, plots=False, model=SMALL)
    adam = zoo.train("poisson-twobody", 4, config=base, **kwargs)
    ng = zoo.train(
        "poisson-twobody",
        4,
        config=base.replace(optimizer="natural-gradient", lr=0.5, damping=1e-3),
        **kwargs,
    )
    assert np.isfinite(ng.card["final_loss"])
    assert ng.card["rel_l2"] < 0.5 * adam.card["rel_l2"]


def test_window_mlp_learns_the_wide_two_body_field_and_reloads(tmp_path):
    # The wide-domain two-body field is a sum over neighbouring pairs, which a window MLP
    # over pairs holds: the natural gradient takes it well below the trivial fit, and the
    # same steps on a small dense MLP do not get as far (at d = 12: 0.13 of the trivial
    # fit against 0.53). The run directory reloads the same network: its input scale,
    # resolved from the PDE, is in config.json.
    cfg = zoo.TrainConfig(
        steps=40, batch=64, estimator="exact", optimizer="natural-gradient", lr=0.5,
        damping=3e-3, n_test=1000, eval_every=0,
    )  # fmt: skip
    window = zoo.ModelConfig(network="window-mlp", window=2, width=8, depth=3)
    kwargs = dict(progress=False, plots=False, config=cfg)
    win = zoo.train("allen-cahn-twobody-wide", 12, model=window, out=tmp_path / "w", **kwargs)
    dense = zoo.train("allen-cahn-twobody-wide", 12, model=SMALL, **kwargs)
    assert win.card["rel_l2"] < 0.25 * win.card["trivial_rel_l2"]
    assert win.card["rel_l2"] < 0.5 * dense.card["rel_l2"]
    loaded = zoo.load(tmp_path / "w")
    assert isinstance(loaded.model.net, models.WindowMLP)
    x = jax.random.normal(jax.random.PRNGKey(3), (5, 12))
    np.testing.assert_array_equal(np.asarray(loaded(x)), np.asarray(win(x)))


@pytest.mark.slow  # two phases compiled, three runs (~15-20 CPU-s); run by name in CI (.ci/run)
def test_natural_gradient_resume_is_bit_identical(tmp_path):
    # Two phases (Adam warm-up, then the natural gradient), resumed inside the second.
    cfg = zoo.TrainConfig(
        steps=6,
        batch=8,
        warmup=zoo.TrainConfig(steps=2, batch=4, lr=1e-3),
        optimizer="natural-gradient",
        lr=0.5,
        loss="unbiased",
        n_test=100,
        eval_every=0,
        checkpoint_every=3,
    )
    kwargs = dict(progress=False, plots=False)
    kwargs["model"] = SMALL
    whole = zoo.train("allen-cahn-twobody", 4, config=cfg, **kwargs)
    # The config (with its warm-up phase) round-trips through config.json.
    assert zoo.TrainConfig.from_dict(cfg.to_dict()) == cfg
    zoo.train("allen-cahn-twobody", 4, config=cfg, out=tmp_path / "r", until=3, **kwargs)
    resumed = zoo.resume(tmp_path / "r", progress=False, plots=False)
    for a, b in zip(jax.tree.leaves(whole.model), jax.tree.leaves(resumed.model)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_natural_gradient_respects_frozen_layers():
    solver = zoo.train(
        "poisson-twobody",
        4,
        config=zoo.TrainConfig(steps=2, batch=8, estimator="exact", n_test=100, eval_every=0),
        model=SMALL,
        progress=False,
        plots=False,
    )
    cfg = solver.config.train.replace(optimizer="natural-gradient", lr=0.5)
    tuned = zoo.finetune(solver, config=cfg, freeze="all-but-last", progress=False, plots=False)
    before = jax.tree.leaves(models.freeze_labels(solver.model, "all"))
    assert before  # the model has trainable leaves at all
    first_before = solver.model.net.layers[0].weight
    first_after = tuned.model.net.layers[0].weight
    np.testing.assert_array_equal(np.asarray(first_before), np.asarray(first_after))
    last_before = np.asarray(solver.model.net.layers[-1].weight)
    assert not np.array_equal(last_before, np.asarray(tuned.model.net.layers[-1].weight))


def test_sampling_without_replacement_is_unbiased_with_less_variance():
    # Laplacian of sum_i i x_i^2 / 2 is sum_i i: a per-coordinate spread, so the variance
    # of the sparse estimate is visible. Without replacement the variance shrinks by
    # (d - |J|) / (d - 1).
    d, k = 12, 6
    f = lambda x: 0.5 * jnp.sum(jnp.arange(1, d + 1) * x**2)
    x = jnp.zeros(d)
    keys = jax.random.split(jax.random.PRNGKey(4), 4000)

    def draws(replace):
        est = stde.SparseSTDE(k, replace=replace)
        one = lambda key: stde.estimate(stde.Laplacian(), f, x, estimator=est, key=key)  # noqa: E731
        return jax.jit(jax.vmap(one))(keys)

    with_r, without = draws(True), draws(False)
    exact = d * (d + 1) / 2
    assert abs(float(jnp.mean(without)) - exact) < 4 * float(jnp.std(without)) / np.sqrt(4000)
    ratio = float(jnp.var(without) / jnp.var(with_r))
    assert abs(ratio - (d - k) / (d - 1)) < 0.1
    # Each draw uses k distinct coordinates: the estimate is a multiple of d/k times an
    # integer sum of k distinct values in 1..d.
    with pytest.raises(ValueError, match="distinct"):
        stde.estimate(
            stde.Laplacian(), f, x, estimator=stde.SparseSTDE(d + 1, replace=False), key=keys[0]
        )


def test_distinct_coordinates_are_a_uniform_subset():
    # Floyd's draw behind `replace=False`: k distinct coordinates, and every k-subset
    # equally likely (d = 6, k = 3: 20 subsets, 20 000 draws, ~1000 each, sd ~31).
    from stde._estimators import _distinct

    keys = jax.random.split(jax.random.PRNGKey(5), 20_000)
    draws = np.sort(np.asarray(jax.jit(jax.vmap(lambda k: _distinct(k, 6, 3)))(keys)), axis=1)
    assert draws.min() >= 0 and draws.max() <= 5
    assert np.all(np.diff(draws, axis=1) > 0)  # distinct
    subsets, counts = np.unique(draws, axis=0, return_counts=True)
    assert len(subsets) == 20 and np.abs(counts - 1000).max() < 5 * 31, counts
    # Large d: the draw is O(k^2), and all k are in range and distinct.
    big = np.asarray(_distinct(jax.random.PRNGKey(6), 10**6, 16))
    assert len(set(big.tolist())) == 16 and 0 <= big.min() and big.max() < 10**6


def test_protocol_init_draws_the_reference_codes_ranges():
    net = models.MLP(50, width=40, depth=3, key=jax.random.PRNGKey(0))
    new = protocol_init(net, jax.random.PRNGKey(1))
    for layer in new.layers:
        fan_out, fan_in = layer.weight.shape
        w, b = np.asarray(layer.weight), np.asarray(layer.bias)
        assert np.abs(w).max() <= 1 / np.sqrt(fan_in)
        assert np.abs(w).max() > 0.9 / np.sqrt(fan_in)  # the whole range is used
        assert np.abs(b).max() <= 1 / np.sqrt(fan_out)
        assert np.abs(b).max() > 0


@pytest.mark.slow  # L-BFGS's line search compiles for ~10 s; run by name in CI (.ci/run)
def test_lbfgs_on_a_fixed_point_set_and_optax_by_name():
    # L-BFGS with its line search on a fixed point set lowers that set's loss every step;
    # "optax:NAME" builds any optax optimiser.
    cfg = zoo.TrainConfig(
        steps=15,
        batch=32,
        estimator="exact",
        optimizer="lbfgs",
        resample_every=0,
        n_test=200,
        eval_every=0,
    )
    # The trainer's compiled loop (`make_chunk`, the body of every `zoo.train` step): 10
    # steps, then 5 on its outputs. L-BFGS's own initial state has weakly typed scalars
    # that its updates return strongly typed; `init_state` types them as the updates do,
    # so the second dispatch does not compile the line search again (~10 s).
    pde = zoo.get_preset("poisson-twobody").run_config(3, train=cfg, model=SMALL).pde.build()
    init_key, data_key = _trainer._keys(cfg.seed)
    model = zoo.build_model(pde, SMALL, key=init_key)
    state = init_state(make_optimizer(cfg, model), model)
    chunk = _trainer.make_chunk(cfg)
    model, state, first, done = chunk(model, state, pde, data_key, 0, 10)
    assert int(done) == 10
    compiles = []
    with on_compile(lambda: compiles.append("compile")):
        _, _, then, done = chunk(model, state, pde, data_key, 10, 5)
    assert int(done) == 5 and not compiles, compiles
    losses = np.asarray(first)[:10].tolist() + np.asarray(then)[:5].tolist()
    assert all(b <= a * (1 + 1e-5) for a, b in zip(losses, losses[1:]))
    assert losses[-1] < 0.1 * losses[0]
    sgd = zoo.train(
        "poisson-twobody",
        3,
        config=cfg.replace(optimizer="optax:sgd", lr=1e-4, steps=3),
        model=SMALL,
        progress=False,
        plots=False,
    )
    assert np.isfinite(sgd.card["final_loss"])
    with pytest.raises(ValueError, match="optax optimiser"):
        zoo.TrainConfig(optimizer="optax:no_such_thing")


def test_recipes_and_when_the_published_figure_is_shown():
    preset = zoo.get_preset("allen-cahn-twobody")
    model, train = preset.recipe("protocol")
    assert train.init == "protocol" and not train.with_replacement and train.optimizer == "adam"
    assert (model.width, model.depth, train.steps, train.batch) == (128, 4, 10_000, 100)
    with pytest.raises(ValueError, match="no published protocol"):
        zoo.get_preset("kdv-1d").recipe("protocol")
    with pytest.raises(ValueError, match="recipe"):
        preset.recipe("fastest")
    from zoo._presets import is_protocol

    protocol = preset.run_config(1000, recipe="protocol")
    assert is_protocol(protocol)
    # Cadences and seeds do not change what is trained; the optimiser does.
    assert is_protocol(protocol.replace(train=protocol.train.replace(eval_every=7, seed=3)))
    assert not is_protocol(protocol.replace(train=protocol.train.replace(lr=2e-3)))
    assert not is_protocol(preset.run_config(1000, recipe="best"))


def test_the_measured_best_recipes_belong_to_their_presets():
    # A second-order best recipe is measured on its own preset (zoo/_presets.py says where
    # and how); every other preset's best is its `train`.
    second_order = {
        name
        for name in zoo.names()
        if zoo.get_preset(name).recipe("best")[1].optimizer == "natural-gradient"
    }
    assert second_order == {
        "allen-cahn-twobody",
        "poisson-twobody",
        "sine-gordon-twobody",
        "allen-cahn-threebody",
        "poisson-threebody",
        "sine-gordon-threebody",
        "biharmonic-twobody",
        "kdv-highdim",
        "kdv-2d",
        "kdv-1d",
        "kdv-1d-gradient-enhanced",
        "black-scholes-barenblatt",
        "hjb-lqg",
        "heat-parabolic",
        "sine-gordon-parabolic",
        "allen-cahn-twobody-wide",
        "poisson-twobody-wide",
        "sine-gordon-twobody-wide",
    }


def test_cli_parses_the_new_train_fields():
    from zoo import _cli

    argv = [
        "train",
        "poisson-twobody",
        "--warmup",
        '{"steps": 5, "batch": 16}',
        "--with-replacement",
        "false",
        "--optimizer",
        "natural-gradient",
        "--recipe",
        "protocol",
    ]
    args = _cli.parse(argv)
    train = _cli._given(argv, args.train)
    assert train["warmup"] == zoo.TrainConfig(steps=5, batch=16)
    assert train["with_replacement"] is False and train["optimizer"] == "natural-gradient"
    assert args.recipe == "protocol"


def test_a_new_total_keeps_the_warm_ups_share():
    cfg = zoo.TrainConfig(steps=3500, warmup=zoo.TrainConfig(steps=3000))
    assert cfg.replace(steps=350).warmup.steps == 300
    assert cfg.replace(steps=2).warmup.steps == 1  # at least one step of each phase
    explicit = cfg.replace(steps=100, warmup=zoo.TrainConfig(steps=10))
    assert explicit.warmup.steps == 10
    with pytest.raises(ValueError, match="below `steps`"):
        cfg.replace(warmup=zoo.TrainConfig(steps=4000))


@pytest.mark.slow  # a fresh process with two forced host devices (~30 s)
def test_natural_gradient_data_parallel_matches_one_device():
    # 64 points: four chunks of 16 per step on a CPU, each spanning both devices.
    import json
    import os
    import subprocess
    import sys

    script = """
import json, zoo
out = {}
for n in (1, 2):
    losses = []
    cfg = zoo.TrainConfig(steps=5, batch=64, n_test=64, devices=n, eval_every=0,
                          optimizer="natural-gradient", lr=0.5, estimator="exact")
    zoo.train("allen-cahn-twobody", 8, config=cfg, model=zoo.ModelConfig(width=16),
              progress=False, plots=False, callback=lambda s, l: losses.append(l))
    out[n] = losses
print("RESULT " + json.dumps(out))
"""
    env = {
        **os.environ,
        "XLA_FLAGS": "--xla_force_host_platform_device_count=2",
        "JAX_PLATFORMS": "cpu",
    }
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = next(x for x in proc.stdout.splitlines() if x.startswith("RESULT "))
    result = json.loads(line[len("RESULT ") :])
    np.testing.assert_allclose(result["2"], result["1"], rtol=1e-4)
