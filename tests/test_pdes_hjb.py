"""HJB-LQG Monte Carlo reference."""

import math

import jax
import jax.numpy as jnp
import numpy as np

import pdes


def test_terminal_condition_and_standard_error():
    pde = pdes.get("hjb-lqg", dim=10, seed=0)
    x = jnp.array([0.3] * 10 + [1.0])
    value, se = pde.monte_carlo(x, num_samples=2**12)  # At t = T: any number of samples.
    np.testing.assert_allclose(value, math.log((1 + 0.9) / 2), rtol=1e-12)
    assert float(se) < 1e-12  # every sample equals g(x) up to rounding
    value, se = pde.monte_carlo(pde.reference_point)
    assert 0 < float(se) < 1e-3
    np.testing.assert_allclose(pde.reference_solution(pde.reference_point), value)


def test_reduced_sampler_matches_brute_force_monte_carlo():
    # Independent check of the O(1) |X|^2 sampler: plain x + sqrt(2) W in R^d.
    d, mu = 3, 1.0
    pde = pdes.get("hjb-lqg", dim=d)
    x = jnp.array([0.4, -0.2, 0.1, 0.25])
    value, se = pde.monte_carlo(x, num_samples=2**18)
    tau = 1.0 - x[-1]
    z = jax.random.normal(jax.random.PRNGKey(7), (2**18, d))
    xs = x[:d] + jnp.sqrt(2 * tau) * z
    y = jnp.exp(-mu * jnp.log((1 + jnp.sum(xs**2, axis=1)) / 2))
    brute = -jnp.log(jnp.mean(y)) / mu
    brute_se = jnp.std(y) / (math.sqrt(y.size) * mu * jnp.mean(y))
    assert abs(float(value - brute)) < 4 * math.hypot(float(se), float(brute_se))
