"""Hamilton-Jacobi-Bellman and Black-Scholes-Barenblatt equations (terminal-value problems)."""

import math

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

import stde
from stde._checks import check_int, check_key, check_number, check_point

from ._base import AbstractPDE
from ._custom_types import Key, Point, Scalar
from ._sampling import brownian_points


def _brownian_from_origin(pde, key, n):
    # dX = sqrt(2) dW from X_0 = 0: the process whose generator is the Laplacian.
    def transform(w, s):
        return math.sqrt(2.0) * w, s

    return brownian_points(key, n, pde.dim, pde.final_time, pde.num_times, transform)


class HJBLQG(AbstractPDE):
    """HJB-LQG $u_t + \\Delta u - \\mu|\\nabla u|^2 = 0$, $u(x, T) = \\log((1 + |x|^2)/2)$.

    Cole-Hopf gives $u(x, t) = -\\frac{1}{\\mu}\\log E[\\exp(-\\mu g(x + \\sqrt{2} W_{T-t}))]$,
    evaluated by Monte Carlo (`monte_carlo` returns value and standard error). $g$
    depends on $|X|^2$ only, and $|x + \\sqrt{2\\tau} Z|^2 = |x|^2 + 2\\sqrt{2\\tau}|x| z_1
    + 2\\tau(z_1^2 + \\chi^2_{d-1})$ in distribution, so a sample costs O(1), not O(d).
    """

    name: str = eqx.field(static=True)
    dim: int = eqx.field(static=True)
    seed: int = eqx.field(static=True)
    mu: float = eqx.field(static=True)
    final_time: float = eqx.field(static=True)
    num_times: int = eqx.field(static=True)
    num_mc_samples: int = eqx.field(static=True)
    time_dependent = True
    has_exact_solution = False
    has_reference_solution = True
    rebuildable = True

    def __init__(
        self,
        dim: int,
        seed: int = 0,
        *,
        mu: float = 1.0,
        final_time: float = 1.0,
        num_times: int = 10,
        num_mc_samples: int = 2**20,
    ):
        check_int(dim, "dim", where="`hjb-lqg`")
        check_int(num_times, "num_times")
        # The standard error uses the sample standard deviation: two samples at least.
        check_int(num_mc_samples, "num_mc_samples", minimum=2)
        check_int(seed, "seed", minimum=0)
        self.name, self.dim, self.seed = "hjb-lqg", dim, seed
        self.mu, self.final_time = (
            check_number(mu, "mu", sign="positive"),
            check_number(final_time, "final_time", sign="positive"),
        )
        self.num_times, self.num_mc_samples = num_times, num_mc_samples

    def params(self) -> dict:
        return {
            "mu": self.mu,
            "final_time": self.final_time,
            "num_times": self.num_times,
            "num_mc_samples": self.num_mc_samples,
        }

    def terminal_condition(self, x: Float[Array, " d"]) -> Scalar:
        return jnp.log((1 + jnp.sum(x**2)) / 2)

    @property
    def ansatz(self) -> stde.TerminalValueAnsatz:
        return stde.TerminalValueAnsatz(self.terminal_condition, self.final_time)

    @property
    def reference_point(self) -> Float[Array, " input_dim"]:
        return jnp.zeros(self.dim + 1)

    def monte_carlo(
        self, x: Point, *, key: Key | None = None, num_samples: int | None = None
    ) -> tuple[Scalar, Scalar]:
        """Monte Carlo $u(x, t)$ and its standard error (delta method), seeded.

        `key` defaults to one derived from `seed`; `num_samples` to `num_mc_samples`.
        """
        x = check_point(x, self.input_dim, where="`HJBLQG.monte_carlo`")
        if key is None:
            key = jax.random.fold_in(jax.random.PRNGKey(self.seed), 1)
        check_key(key, where="`HJBLQG.monte_carlo`")
        n = self.num_mc_samples
        if num_samples is not None:
            n = check_int(num_samples, "num_samples", minimum=2, where="`HJBLQG.monte_carlo`")
        tau = self.final_time - x[-1]
        r = jnp.linalg.norm(x[:-1])
        kz, kc = jax.random.split(key)
        z = jax.random.normal(kz, (n,), x.dtype)
        if self.dim > 1:
            chi2 = 2 * jax.random.gamma(kc, (self.dim - 1) / 2, (n,), x.dtype)
        else:
            chi2 = jnp.zeros((n,), x.dtype)
        sq = r**2 + 2 * jnp.sqrt(2 * tau) * r * z + 2 * tau * (z**2 + chi2)
        # exp(-mu g) with g = log((1 + |X|^2)/2), written without exp(log(.)).
        y = ((1 + sq) / 2) ** (-self.mu)
        mean, sd = jnp.mean(y), jnp.std(y, ddof=1)
        return -jnp.log(mean) / self.mu, sd / (math.sqrt(n) * self.mu * mean)

    def _solution(self, x):
        return self.monte_carlo(x)[0]

    def _residual(self, u, x, estimator, key):
        d = self.dim
        op = stde.Partial((d,)) + stde.Laplacian(dims=d)
        ev = stde.evaluate(op, u, x, estimator=estimator, key=key, gradient=True)
        return ev.estimate - self.mu * jnp.sum(ev.gradient[:d] ** 2)

    def _sample_interior(self, key, n):
        return _brownian_from_origin(self, key, n)


class HJBLin(AbstractPDE):
    """HJB-Lin $u_t + \\Delta u - \\frac{1}{d}\\sum_i |u_{x_i}|^c = -2$, $c = 1.75$,
    $u(x, T) = \\sum_i x_i$; exact $u^* = \\sum_i x_i + T - t$."""

    name: str = eqx.field(static=True)
    dim: int = eqx.field(static=True)
    seed: int = eqx.field(static=True)
    power: float = eqx.field(static=True)
    final_time: float = eqx.field(static=True)
    num_times: int = eqx.field(static=True)
    time_dependent = True
    has_exact_solution = True
    has_reference_solution = True
    rebuildable = True

    def __init__(
        self,
        dim: int,
        seed: int = 0,
        *,
        power: float = 1.75,
        final_time: float = 1.0,
        num_times: int = 10,
    ):
        check_int(dim, "dim", where="`hjb-lin`")
        check_int(num_times, "num_times")
        check_int(seed, "seed", minimum=0)
        self.name, self.dim, self.seed = "hjb-lin", dim, seed
        self.power = check_number(power, "power", sign="positive")
        self.final_time, self.num_times = (
            check_number(final_time, "final_time", sign="positive"),
            num_times,
        )

    def params(self) -> dict:
        return {"power": self.power, "final_time": self.final_time, "num_times": self.num_times}

    def terminal_condition(self, x: Float[Array, " d"]) -> Scalar:
        return jnp.sum(x)

    @property
    def ansatz(self) -> stde.TerminalValueAnsatz:
        return stde.TerminalValueAnsatz(self.terminal_condition, self.final_time)

    def _solution(self, x):
        return jnp.sum(x[:-1]) + self.final_time - x[-1]

    def forcing(self, x: Point) -> Scalar:
        """The right-hand side, the constant $-2$."""
        x = check_point(x, self.input_dim, where="`HJBLin.forcing`")
        return jnp.full((), -2.0, x.dtype)

    def _residual(self, u, x, estimator, key):
        d = self.dim
        op = stde.Partial((d,)) + stde.Laplacian(dims=d)
        ev = stde.evaluate(op, u, x, estimator=estimator, key=key, gradient=True)
        hamiltonian = jnp.mean(jnp.abs(ev.gradient[:d]) ** self.power)
        return ev.estimate - hamiltonian - self.forcing(x)

    def _sample_interior(self, key, n):
        return _brownian_from_origin(self, key, n)


class BlackScholesBarenblatt(AbstractPDE):
    """$u_t + \\frac{\\sigma^2}{2}\\sum_i x_i^2 u_{x_ix_i} - r(u - x\\cdot\\nabla u) = 0$,
    $u(x, T) = |x|^2$; exact $u^* = e^{(r + \\sigma^2)(T - t)}|x|^2$ (Raissi 2018:
    $\\sigma = 0.4$, $r = 0.05$, $T = 1$).

    The second-order part is a weighted diagonal operator with weights $\\sigma^2 x_i^2/2$.
    Collocation points follow the geometric Brownian motion $dX = \\sigma X dW$ from
    $X_0 = (1, 0.5, 1, 0.5, \\dots)$, sampled exactly from $W$ simulated with diffrax.
    """

    name: str = eqx.field(static=True)
    dim: int = eqx.field(static=True)
    seed: int = eqx.field(static=True)
    sigma: float = eqx.field(static=True)
    rate: float = eqx.field(static=True)
    final_time: float = eqx.field(static=True)
    num_times: int = eqx.field(static=True)
    time_dependent = True
    has_exact_solution = True
    has_reference_solution = True
    rebuildable = True

    def __init__(
        self,
        dim: int,
        seed: int = 0,
        *,
        sigma: float = 0.4,
        rate: float = 0.05,
        final_time: float = 1.0,
        num_times: int = 10,
    ):
        check_int(dim, "dim", where="`black-scholes-barenblatt`")
        check_int(num_times, "num_times")
        check_int(seed, "seed", minimum=0)
        if not (isinstance(rate, int | float) and math.isfinite(rate)):
            raise ValueError(f"`rate` must be a finite number, got {rate!r}.")
        self.name, self.dim, self.seed = "black-scholes-barenblatt", dim, seed
        self.sigma, self.rate = check_number(sigma, "sigma", sign="positive"), float(rate)
        self.final_time = check_number(final_time, "final_time", sign="positive")
        self.num_times = num_times

    def params(self) -> dict:
        return {
            "sigma": self.sigma,
            "rate": self.rate,
            "final_time": self.final_time,
            "num_times": self.num_times,
        }

    def terminal_condition(self, x: Float[Array, " d"]) -> Scalar:
        return jnp.sum(x**2)

    @property
    def ansatz(self) -> stde.TerminalValueAnsatz:
        return stde.TerminalValueAnsatz(self.terminal_condition, self.final_time)

    @property
    def initial_point(self) -> Float[Array, " d"]:
        return jnp.where(jnp.arange(self.dim) % 2 == 0, 1.0, 0.5)

    def _solution(self, x):
        growth = jnp.exp((self.rate + self.sigma**2) * (self.final_time - x[-1]))
        return growth * jnp.sum(x[:-1] ** 2)

    def _residual(self, u, x, estimator, key):
        d, half_s2 = self.dim, 0.5 * self.sigma**2
        diffusion = stde.DiagonalDerivative(order=2, weights=lambda z: half_s2 * z[:d] ** 2, dims=d)
        ev = stde.evaluate(
            stde.Partial((d,)) + diffusion, u, x, estimator=estimator, key=key, gradient=True
        )
        return ev.estimate - self.rate * (ev.value - jnp.dot(x[:d], ev.gradient[:d]))

    def _sample_interior(self, key, n):
        x0, s = self.initial_point, self.sigma

        def transform(w, t):
            return x0 * jnp.exp(s * w - 0.5 * s**2 * t), t

        return brownian_points(key, n, self.dim, self.final_time, self.num_times, transform)
