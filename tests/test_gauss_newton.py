"""Matrix-free Gauss-Newton (LSMR) and gradient-enhanced residuals, against dense least
squares, finite differences and the trainer's own steps."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import pdes
import zoo
from zoo import _distributed as dist, _trainer
from zoo._gauss_newton import GaussNewton, gauss_newton_direction
from zoo._optim import schedule
from zoo._presets import build_model, make_estimator


def _linear(key, rows: int, scale: float = 1.0):
    """r(theta) = A theta - b over a two-leaf pytree theta = {w: (5,), c: ()}."""
    ka, kb = jax.random.split(key)
    a = scale * jax.random.normal(ka, (rows, 6), jnp.float32)
    b = scale * jax.random.normal(kb, (rows,), jnp.float32)

    def residuals(theta):
        return a[:, :5] @ theta["w"] + a[:, 5] * theta["c"] - b

    theta = {"w": jnp.linspace(-1.0, 1.0, 5), "c": jnp.asarray(0.3)}
    return residuals, theta, np.asarray(a, np.float64), np.asarray(b, np.float64)


def _flat(theta) -> np.ndarray:
    return np.concatenate([np.asarray(theta["w"], np.float64), [float(theta["c"])]])


@pytest.mark.parametrize("scale", [1.0, 1e18])
def test_one_step_is_the_least_squares_solution(scale):
    # More rows than unknowns: theta - v is the least-squares solution, whatever the
    # residuals' scale (at 1e18, J^T r alone overflows float32 unless the solve rescales).
    residuals, theta, a, b = _linear(jax.random.PRNGKey(0), 40, scale)
    v, r = jax.jit(lambda t: gauss_newton_direction(residuals, t, max_steps=20))(theta)
    np.testing.assert_allclose(r, a @ _flat(theta) - b, rtol=1e-5, atol=1e-5 * scale)
    want = np.linalg.lstsq(a, b, rcond=None)[0]
    np.testing.assert_allclose(_flat(theta) - _flat(v), want, rtol=1e-4, atol=1e-4)


def test_with_fewer_rows_than_unknowns_the_step_is_minimum_norm():
    residuals, theta, a, b = _linear(jax.random.PRNGKey(1), 4)
    v, r = gauss_newton_direction(residuals, theta, max_steps=20)
    np.testing.assert_allclose(_flat(v), np.linalg.pinv(a) @ np.asarray(r), atol=1e-5)


def test_frozen_leaves_get_no_direction():
    # With `c` frozen, w's direction is the least-squares step over A's first 5 columns.
    residuals, theta, a, b = _linear(jax.random.PRNGKey(2), 30)
    labels = {"w": "train", "c": "freeze"}
    v, r = gauss_newton_direction(residuals, theta, max_steps=20, trainable=labels)
    assert float(v["c"]) == 0.0
    want = np.linalg.lstsq(a[:, :5], np.asarray(r, np.float64), rcond=None)[0]
    np.testing.assert_allclose(np.asarray(v["w"]), want, rtol=1e-4, atol=1e-5)


def test_harmonic_schedule_is_lr_over_one_plus_the_step():
    config = zoo.TrainConfig(schedule="harmonic", lr=2.0, steps=10)
    rates = [float(schedule(config)(t)) for t in range(4)]
    np.testing.assert_allclose(rates, [2.0, 1.0, 2 / 3, 0.5], rtol=1e-6)


def test_point_residuals_append_the_weighted_gradient_of_the_residual():
    # The gradient rows against central differences of the residual in float64.
    with jax.enable_x64(True):
        pde = pdes.get("allen-cahn-twobody", dim=5)
        model = build_model(
            pde, zoo.ModelConfig(width=8, depth=2), key=jax.random.PRNGKey(0), dtype=jnp.float64
        )
        y = 0.4 * jax.random.normal(jax.random.PRNGKey(1), (5,), jnp.float64)
        est = make_estimator(zoo.TrainConfig(estimator="exact"))
        rows = _trainer._point_residuals(pde, model, y, est, None, 0.5)

        def residual(z):
            return float(pde.residual(model, z, estimator=est))

        h = 1e-5
        fd = [(residual(y.at[j].add(h)) - residual(y.at[j].add(-h))) / (2 * h) for j in range(5)]
        assert rows.shape == (6,)
        np.testing.assert_allclose(rows[0], residual(y), rtol=1e-12)
        np.testing.assert_allclose(rows[1:], 0.5 * np.asarray(fd), rtol=1e-6, atol=1e-8)
        # Weight 0: the residual alone.
        assert _trainer._point_residuals(pde, model, y, est, None, 0.0).shape == (1,)


def test_trainer_step_on_a_linear_problem_lands_on_its_least_squares_solution():
    # Poisson is linear and the affine network with a radial term (the two-body recipe
    # above d = 10 000) is linear in its parameters, so one trainer step of rate 1 from
    # any start must land where the gradient of the batch's squared residuals (values and
    # weighted gradients) vanishes. d = 30: 32 parameters, 4 points x 31 rows.
    pde = pdes.get("poisson-twobody", dim=30)
    net = build_model(pde, zoo.ModelConfig(depth=1, radial=True), key=jax.random.PRNGKey(0))
    config = zoo.TrainConfig(
        optimizer="gauss-newton", residual_gradient=0.7, estimator="exact", batch=4,
        lr=1.0, schedule="constant", lsmr_steps=64,
    )  # fmt: skip
    params, static = eqx.partition(net, eqx.is_inexact_array)
    mesh, key = dist.make_mesh(1, config.batch), jax.random.PRNGKey(3)
    _, after, _ = jax.jit(
        lambda p: _trainer._gauss_newton_update(
            p, static, GaussNewton().init(p), pde, key, jnp.asarray(1.0), config, "none",
            jnp.float32, mesh,
        )
    )(params)  # fmt: skip
    x, keys, _ = _trainer._collocation(pde, key, config, jnp.float32, mesh)
    est = make_estimator(config)

    def residuals(p):
        m = eqx.combine(p, static)
        rows = jax.vmap(lambda y, k: _trainer._point_residuals(pde, m, y, est, k, 0.7))(x, keys)
        return rows.reshape(-1)

    assert residuals(params).shape == (4 * 31,)
    grad_before = jax.grad(lambda p: jnp.sum(residuals(p) ** 2))(params)
    grad_after = jax.grad(lambda p: jnp.sum(residuals(p) ** 2))(after)
    norm = lambda g: float(jnp.sqrt(sum(jnp.sum(a**2) for a in jax.tree.leaves(g))))  # noqa: E731
    assert norm(grad_after) < 1e-4 * norm(grad_before)


def test_loss_with_residual_gradient_adds_the_squared_weighted_gradient():
    pde = pdes.get("poisson-twobody", dim=4)
    net = build_model(pde, zoo.ModelConfig(width=8, depth=2), key=jax.random.PRNGKey(0))
    config = zoo.TrainConfig(estimator="exact", batch=8, residual_gradient=2.0)
    params, static = eqx.partition(net, eqx.is_inexact_array)
    mesh, key = dist.make_mesh(1, config.batch), jax.random.PRNGKey(4)
    loss = _trainer._loss_fn(params, static, pde, key, config, jnp.float32, mesh)
    x, _, _ = _trainer._collocation(pde, key, config, jnp.float32, mesh)
    res = jax.vmap(lambda y: pde.residual(net, y))(x)
    grads = jax.vmap(jax.jacfwd(lambda y: pde.residual(net, y)))(x)
    want = np.mean(np.asarray(res) ** 2 + 4.0 * np.sum(np.asarray(grads) ** 2, axis=1))
    np.testing.assert_allclose(float(loss), want, rtol=1e-5)


def test_gauss_newton_with_residual_gradient_trains_a_small_network(tmp_path):
    # A 2 x 32 network on two-body Poisson at d = 8: 30 steps of 16 points (9 rows each)
    # end below a tenth of the trivial fit (measured 0.044); the run reloads.
    config = zoo.TrainConfig(
        optimizer="gauss-newton", residual_gradient=1.0, estimator="exact", batch=16,
        steps=30, lr=1.0, schedule="constant", init_bias="residual", n_test=2000,
        eval_every=0,
    )  # fmt: skip
    solver = zoo.train(
        "poisson-twobody", 8, config=config, model=zoo.ModelConfig(width=32, depth=2),
        out=tmp_path / "run", progress=False, plots=False,
    )  # fmt: skip
    assert solver.card["rel_l2"] < 0.1 * solver.card["trivial_rel_l2"], solver.card
    assert zoo.load(tmp_path / "run").config.train == config


@pytest.mark.parametrize(
    "field, value", [("residual_gradient", -1.0), ("residual_gradient", float("nan")),
                     ("lsmr_steps", 0)],
)  # fmt: skip
def test_bad_gauss_newton_settings_are_refused(field, value):
    with pytest.raises(ValueError, match=field):
        zoo.TrainConfig(optimizer="gauss-newton", **{field: value})


def test_cli_parses_the_gauss_newton_fields():
    from zoo import _cli

    argv = ["train", "poisson-twobody", "--optimizer", "gauss-newton"]
    argv += ["--residual-gradient", "0.5", "--lsmr-steps", "20", "--schedule", "harmonic"]
    args = _cli.parse(argv)
    train = _cli._given(argv, args.train)
    assert train == dict(
        optimizer="gauss-newton", residual_gradient=0.5, lsmr_steps=20, schedule="harmonic"
    )
