"""Semilinear parabolic PDEs $\\partial_t u = \\Delta u + F(u)$, $u(x, 0) = g(x)$ (DESIGN §4)."""

import math

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Float

import stde

from ._base import AbstractPDE, Ansatz, check_count, check_seed
from ._custom_types import Scalar
from ._sampling import brownian_points

FINAL_TIME = 0.3
FAMILIES = ("heat", "allen-cahn", "sine-gordon")

# Published reference values of u(0, T) by multilevel Picard (Hu, Shi, Karniadakis,
# Kawaguchi, SDGD; reused by STDE), keyed by dimension. None published for Sine-Gordon.
REFERENCE_VALUES = {
    "heat": {10: 0.47006, 100: 0.31674, 1000: 0.28753, 10000: 0.28433},
    "allen-cahn": {10: 0.89060, 100: 1.04510, 1000: 1.09100, 10000: 1.11402},
    "sine-gordon": {},
}


def _source(family: str, u):
    if family == "heat":
        return (1 - u**2) / (1 + u**2)
    if family == "allen-cahn":
        return u - u**3
    return jnp.sin(u)


class SemilinearParabolicPDE(AbstractPDE):
    """$\\partial_t u = \\Delta u + F(u)$ on $\\mathbb{R}^d \\times [0, T]$, $T = 0.3$.

    - `"heat"`: $F = (1 - u^2)/(1 + u^2)$, $g = 5/(10 + 2|x|^2)$;
    - `"allen-cahn"`: $F = u - u^3$, $g = \\arctan(\\max_i x_i)$;
    - `"sine-gordon"`: $F = \\sin u$, $g = 5/(10 + 2|x|^2)$.

    The quantity of interest is $u(0, T)$ (`reference_point`); its published value is
    `reference_value` (None where unpublished). Collocation points lie along Brownian
    paths: $(\\sqrt{2} W_s, T - s)$, the characteristics that carry $g$ to $(0, T)$.
    """

    name: str = eqx.field(static=True)
    dim: int = eqx.field(static=True)
    seed: int = eqx.field(static=True)
    family: str = eqx.field(static=True)
    num_times: int = eqx.field(static=True)
    time_dependent = True
    exact_solution = None
    final_time = FINAL_TIME

    def __init__(self, dim: int, seed: int = 0, *, family: str = "heat", num_times: int = 10):
        """**Arguments:** `dim` (>= 1), `seed`, `family` (`"heat"`, `"allen-cahn"`,
        `"sine-gordon"`), `num_times` (collocation times per Brownian path)."""
        if family not in FAMILIES:
            raise ValueError(f"`family` must be one of {FAMILIES}, got {family!r}.")
        check_count(dim, name="dim", where=f"`{family}-parabolic`")
        check_count(num_times, name="num_times")
        check_seed(seed)
        self.name, self.dim, self.seed = f"{family}-parabolic", dim, seed
        self.family, self.num_times = family, num_times

    def params(self) -> dict:
        return {"num_times": self.num_times}

    def initial_condition(self, x: Float[Array, " d"]) -> Scalar:
        if self.family == "allen-cahn":
            return jnp.arctan(jnp.max(x))
        return 5 / (10 + 2 * jnp.sum(x**2))

    @property
    def ansatz(self) -> Ansatz:
        return Ansatz(
            "initial-value", self.dim, final_time=FINAL_TIME, condition=self.initial_condition
        )

    @property
    def reference_point(self) -> Float[Array, " input_dim"]:
        return jnp.zeros(self.dim + 1).at[-1].set(FINAL_TIME)

    @property
    def reference_value(self) -> float | None:
        """Published $u(0, T)$ at this dimension, or None."""
        return REFERENCE_VALUES[self.family].get(self.dim)

    def _solution(self, x):
        raise NotImplementedError(
            f"`{self.name}` has no closed form and no reference away from `reference_point` "
            "= (0, T); compare u(reference_point) with `reference_value`."
        )

    def _residual(self, u, x, estimator, key):
        d = self.dim
        op = stde.Partial((d,)) - stde.Laplacian(dims=d)
        ev = stde.evaluate(op, u, x, estimator=estimator, key=key)
        return ev.estimate - _source(self.family, ev.value)

    def _sample_interior(self, key, n):
        def transform(w, s):
            return math.sqrt(2.0) * w, FINAL_TIME - s

        return brownian_points(key, n, self.dim, FINAL_TIME, self.num_times, transform)
