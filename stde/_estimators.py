"""Estimators: which jets to push for each operator atom, exactly or at random."""

import abc
import functools
from typing import Literal

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from ._checks import check_int
from ._jets import JetBatch, dense_first_slot, from_plan, sparse_pure
from ._operators import AbstractAtom, Biharmonic, DiagonalDerivative, Laplacian, Partial
from ._planning import plan_partial


@functools.cache
def _cached_plan(index):
    return plan_partial(index)


def _sum_dims(atom, n: int) -> int:
    return n if atom.dims is None else atom.dims


def _biharmonic_pairs(i, j, weight, dtype) -> JetBatch:
    """Jets for $\\sum$ `weight` $\\cdot u_{iijj}$ over the pairs, by polarisation:
    $y_4(e_i + e_j) + y_4(e_i - e_j) = 2 u_{iiii} + 12 u_{iijj} + 2 u_{jjjj}$, which also
    holds for $i = j$ (then it reads $16 u_{iiii} = 4 u_{iiii} + 12 u_{iiii}$)."""
    idx = jnp.stack([i, j], axis=1)
    one, zero = jnp.ones_like(i, dtype), jnp.zeros_like(i, dtype)
    slot1 = jnp.concatenate(
        [jnp.stack(s, axis=1) for s in ((one, one), (one, -one), (one, zero), (zero, one))]
    )
    val = jnp.zeros((slot1.shape[0], 4, 2), dtype).at[:, 0].set(slot1)
    w = jnp.concatenate([weight / 12, weight / 12, -weight / 6, -weight / 6])
    return JetBatch(4, jnp.tile(idx, (4, 1)), val, w[None, :], top_input=False)


def _first_order(atom: DiagonalDerivative, x, n) -> list[JetBatch]:
    # $\sum_i a_i u_i = Du[a]$ is one directional derivative: exact and cheap for every
    # estimator.
    dims = _sum_dims(atom, n)
    a = atom.weights_at(x, dims)
    a = jnp.ones(dims, x.dtype) if a is None else a
    direction = jnp.zeros(n, x.dtype).at[:dims].set(a)
    return [dense_first_slot(1, direction[None, :], jnp.ones(1, x.dtype))]


class AbstractEstimator(eqx.Module):
    """How an operator is turned into input jets: exactly, or by random sampling."""

    @property
    @abc.abstractmethod
    def stochastic(self) -> bool:
        """Whether the estimator needs a PRNG key."""

    def jets(
        self, atom: AbstractAtom, x: Float[Array, " n"], key: PRNGKeyArray | None
    ) -> list[JetBatch]:
        """The jets whose weighted top coefficients estimate `atom` at `x`.

        Mixed partials and first-order sums are exact for every estimator; the sums over
        coordinates of order >= 2 are what each estimator plans its own way.
        """
        n = x.shape[0]
        if isinstance(atom, Partial):
            return from_plan(_cached_plan(atom.index), x.dtype)
        if isinstance(atom, Laplacian):
            atom = atom.as_diagonal()
        dims = _sum_dims(atom, n)
        if isinstance(atom, DiagonalDerivative):
            if atom.order == 1:
                return _first_order(atom, x, n)
            return self._diagonal(atom, x, key, dims)
        if isinstance(atom, Biharmonic):
            return self._biharmonic(x, key, dims)
        raise NotImplementedError(type(atom).__name__)

    @abc.abstractmethod
    def _diagonal(self, atom: DiagonalDerivative, x, key, dims: int) -> list[JetBatch]:
        """Jets for $\\sum_{i < dims} a_i \\partial_i^k$, $k \\ge 2$."""

    @abc.abstractmethod
    def _biharmonic(self, x, key, dims: int) -> list[JetBatch]:
        """Jets for $\\sum_{i, j < dims} \\partial_i^2 \\partial_j^2$."""


class Exact(AbstractEstimator):
    """Every jet the operator needs: deterministic, cost grows with the dimension."""

    @property
    def stochastic(self):
        return False

    def _diagonal(self, atom, x, key, dims):
        a = atom.weights_at(x, dims)
        a = jnp.ones(dims, x.dtype) if a is None else a
        return [sparse_pure(atom.order, jnp.arange(dims), a, x.dtype)]

    def _biharmonic(self, x, key, dims):
        # $\sum_i u_{iiii} + 2 \sum_{i<j} u_{iijj}$ with each pair by polarisation.
        i, j = jnp.triu_indices(dims, k=1)
        pairs = _biharmonic_pairs(i, j, jnp.full(i.shape, 2.0, x.dtype), x.dtype)
        diag = sparse_pure(4, jnp.arange(dims), jnp.ones(dims, x.dtype), x.dtype)
        return [pairs, diag]


def _check_num_samples(name, num_samples):
    check_int(num_samples, f"{name}(num_samples=...)")


def _distinct(key, dims: int, k: int):
    """`k` distinct integers in [0, dims), every k-subset equally likely (Floyd's
    algorithm): for j = dims - k, ..., dims - 1 draw t in [0, j] and take t, or j if t is
    already taken. k draws and k^2 comparisons, whatever `dims`."""
    keys = jax.random.split(key, k)

    def take(i, idx):
        j = dims - k + i
        t = jax.random.randint(keys[i], (), 0, j + 1)
        return idx.at[i].set(jnp.where(jnp.any(idx == t), j, t).astype(idx.dtype))

    return jax.lax.fori_loop(0, k, take, jnp.full((k,), -1, dtype=jnp.int32))


class SparseSTDE(AbstractEstimator):
    """Random coordinates through pure directional jets (SDGD-style), unbiased.

    For $\\sum_i a_i \\partial_i^k$ it draws `num_samples` coordinates uniformly with
    replacement (O(`num_samples`) to draw, never an O(d) shuffle) and returns
    $(d / |J|) \\sum_{j \\in J} a_j y_k(e_j)$. The biharmonic samples pairs $(i, j)$.
    Mixed partials are computed exactly.

    `replace=False` draws distinct coordinates (as the published reference code does):
    each coordinate is still in $J$ with probability $|J|/d$, so the same scale keeps the
    estimate unbiased, and its variance is smaller by the factor $(d - |J|)/(d - 1)$. The
    draw is Floyd's, O(`num_samples`^2), not a shuffle of all d (which made the draw most
    of a step at d = 10 000). It needs `num_samples` <= d and applies to diagonal sums
    (biharmonic pairs are always drawn with replacement).
    """

    num_samples: int = eqx.field(static=True, default=16)
    replace: bool = eqx.field(static=True, default=True)

    def __check_init__(self):
        _check_num_samples("SparseSTDE", self.num_samples)
        if not isinstance(self.replace, bool):
            raise ValueError(f"`SparseSTDE(replace=...)` must be a bool, got {self.replace!r}.")

    @property
    def stochastic(self):
        return True

    def _diagonal(self, atom, x, key, dims):
        scale = jnp.asarray(dims / self.num_samples, x.dtype)
        if self.replace:
            idx = jax.random.randint(key, (self.num_samples,), 0, dims)
        elif self.num_samples > dims:
            raise ValueError(
                f"`SparseSTDE(num_samples={self.num_samples}, replace=False)` cannot draw "
                f"that many distinct coordinates out of {dims}."
            )
        else:
            idx = _distinct(key, dims, self.num_samples)
        a = atom.weights_at(x, dims)
        w = jnp.full(idx.shape, scale) if a is None else scale * a[idx]
        return [sparse_pure(atom.order, idx, w, x.dtype)]

    def _biharmonic(self, x, key, dims):
        ki, kj = jax.random.split(key)
        i = jax.random.randint(ki, (self.num_samples,), 0, dims)
        j = jax.random.randint(kj, (self.num_samples,), 0, dims)
        w = jnp.full(i.shape, dims * dims / self.num_samples, x.dtype)
        return [_biharmonic_pairs(i, j, w, x.dtype)]


class DenseSTDE(AbstractEstimator):
    """Random dense directions (Hutchinson-style), unbiased.

    With $E[v v^\\top] = I$ (Rademacher or Gaussian), $\\Delta u = E[D^2 u[v, v]]$; a
    weighted $\\sum_i a_i u_{ii} = E[D^2 u[v, a \\odot v]]$ by polarisation. With Gaussian
    $v$, $E[D^4 u[v, v, v, v]] = 3 \\Delta^2 u$. No distribution estimates a diagonal sum
    of order 3 or more, so those raise.
    """

    num_samples: int = eqx.field(static=True, default=16)
    distribution: Literal["rademacher", "gaussian"] = eqx.field(static=True, default="rademacher")

    def __check_init__(self):
        _check_num_samples("DenseSTDE", self.num_samples)
        if self.distribution not in ("rademacher", "gaussian"):
            raise ValueError(
                "`DenseSTDE(distribution=...)` must be 'rademacher' or 'gaussian', got "
                f"{self.distribution!r}."
            )

    @property
    def stochastic(self):
        return True

    def _directions(self, key, n, dims, dtype):
        shape = (self.num_samples, dims)
        if self.distribution == "rademacher":
            v = jax.random.rademacher(key, shape, dtype=dtype)
        else:
            v = jax.random.normal(key, shape, dtype=dtype)
        return jnp.zeros((self.num_samples, n), dtype).at[:, :dims].set(v)

    def _diagonal(self, atom, x, key, dims):
        if atom.order != 2:
            raise ValueError(
                f"`DenseSTDE` cannot estimate `DiagonalDerivative(order={atom.order})`: "
                f"no distribution has E[v^{atom.order}] equal to the diagonal tensor "
                "(odd moments vanish, and the fourth moment is never diagonal); use "
                "`SparseSTDE` or `Exact`."
            )
        ones = jnp.full(self.num_samples, 1 / self.num_samples, x.dtype)
        v = self._directions(key, x.shape[0], dims, x.dtype)
        a = atom.weights_at(x, dims)
        if a is None:
            return [dense_first_slot(2, v, ones)]
        av = v.at[:, :dims].multiply(a)
        return [
            dense_first_slot(
                2, jnp.concatenate([v + av, v - av]), jnp.concatenate([ones / 4, -ones / 4])
            )
        ]

    def _biharmonic(self, x, key, dims):
        if self.distribution != "gaussian":
            raise ValueError(
                "`DenseSTDE(distribution='rademacher')` cannot estimate `Biharmonic`: "
                "its fourth moment gives sum_i u_iiii + 3 sum_{i != j} u_iijj; use "
                "`DenseSTDE(distribution='gaussian')`, `SparseSTDE` or `Exact`."
            )
        ones = jnp.full(self.num_samples, 1 / self.num_samples, x.dtype)
        v = self._directions(key, x.shape[0], dims, x.dtype)
        return [dense_first_slot(4, v, ones / 3)]
