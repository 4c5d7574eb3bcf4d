"""Natural gradient in sample space: Gauss-Newton steps by the Woodbury identity.

For the least-squares loss $L(\\theta) = \\frac1N |r(\\theta)|^2$ over $N$ residuals with
Jacobian $J \\in \\mathbb{R}^{N \\times P}$, the damped Gauss-Newton (for a linear operator:
energy natural gradient) direction is

$$(J^\\top J + \\lambda I)^{-1} J^\\top r = J^\\top (J J^\\top + \\lambda I)^{-1} r,$$

and the right-hand side only needs the $N \\times N$ Gram matrix $J J^\\top$: with a few
hundred collocation points and $10^5$ parameters that is a Cholesky factorisation of a
few hundred rows instead of a $P \\times P$ solve. With more residuals than parameters the
left-hand side is the smaller system, and the one that stays invertible: the step then
solves it instead. $J$'s rows are per-point residual
gradients (`jax.vjp` under `jax.vmap`: about one backward pass per point).

Momentum follows SPRING (Goldshlager, Abrahamsen, Lin, 2024): the new direction solves
the damped problem for what the previous direction $\\phi$ leaves of the residual,

$$\\phi \\leftarrow \\mu \\phi + J^\\top (J J^\\top + \\lambda I)^{-1} (r - \\mu J \\phi),$$

so with fresh collocation points each step the direction averages over batches while
staying a Gauss-Newton step on each. $\\lambda$ is relative: `damping` times the mean of
the Gram diagonal, so one value fits every scale of residual (and keeps float32
Cholesky factorisations well-posed).
"""

import equinox as eqx
import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree
from jax.scipy.linalg import cho_factor, cho_solve


class NaturalGradientState(eqx.Module):
    """The optimiser state: the previous direction (momentum) and the step count."""

    direction: object
    count: jax.Array


class NaturalGradient(eqx.Module):
    """The Woodbury natural-gradient optimiser as data: `init(params)` gives its state;
    the step itself is `woodbury_direction` (the trainer computes $J$ and $r$)."""

    def init(self, params) -> NaturalGradientState:
        zeros = jax.tree.map(jnp.zeros_like, params)
        return NaturalGradientState(zeros, jnp.zeros((), jnp.int32))


def _rows(jac, n: int) -> list[jax.Array]:
    return [leaf.reshape(n, -1) for leaf in jax.tree.leaves(jac)]


def _gram(rows: list[jax.Array]) -> jax.Array:
    """$J J^\\top$ from the Jacobian's rows, leaf by leaf (never concatenated)."""
    return sum(j @ j.T for j in rows)


def woodbury_direction(jac, r: jax.Array, previous, *, damping: float, momentum: float):
    """The SPRING / Woodbury direction (module docstring), to be subtracted (times a
    learning rate) from the parameters.

    **Arguments:**

    - `jac`: the residual Jacobian as a pytree like the parameters, each leaf with a
      leading axis of length $N$ (the residuals).
    - `r`: the residuals, shape `(N,)`.
    - `previous`: the previous direction (a pytree like the parameters; zeros at first).
    - `damping`: $\\lambda$ relative to the mean diagonal of $J J^\\top$ ($\\ge 0$; 0 is
      the undamped minimum-norm Gauss-Newton step, which needs $J J^\\top$ invertible).
    - `momentum`: $\\mu \\in [0, 1)$.

    **Returns:** the new direction, a pytree like `previous`.
    """
    n = r.shape[0]
    rows = _rows(jac, n)
    leaves, treedef = jax.tree.flatten(previous)
    if n > sum(j.shape[1] for j in rows):
        return _parameter_space(rows, r, previous, damping, momentum)
    gram = _gram(rows)
    j_prev = sum(j @ p.reshape(-1) for j, p in zip(rows, leaves))
    factor, _ = _damped_cholesky(gram, damping * jnp.trace(gram) / n)
    alpha = cho_solve(factor, r - momentum * j_prev)
    new = [
        momentum * p + (alpha @ j).reshape(p.shape).astype(p.dtype) for j, p in zip(rows, leaves)
    ]
    return jax.tree.unflatten(treedef, new)


def _parameter_space(rows, r, previous, damping, momentum):
    """The same direction from the P x P system when there are more residuals than
    parameters, $(J^\\top J + \\lambda I)^{-1} (J^\\top r + \\lambda \\mu \\phi)$: there
    $J J^\\top$ is singular (rank P) and only the damping keeps its factorisation
    defined, while $J^\\top J$ is generically invertible, and smaller."""
    jac = jnp.concatenate(rows, axis=1)  # (N, P): small, since P < N
    prev, unravel = ravel_pytree(previous)  # leaf by leaf, in the rows' order
    gram = jac.T @ jac
    # tr(J^T J) = tr(J J^T): the same lambda as in sample space.
    factor, lam = _damped_cholesky(gram, damping * jnp.trace(gram) / r.shape[0])
    rhs = jac.T @ r + lam * momentum * prev.astype(jac.dtype)
    return unravel(cho_solve(factor, rhs))


# Times the damping may grow tenfold when a factorisation fails (relative damping 1e-4
# becomes at most 1e-1).
_DAMPING_RETRIES = 3


def _damped_cholesky(gram: jax.Array, lam: jax.Array):
    """`(cho_factor(gram + lam I), lam)`, with `lam` multiplied by 10 while the factor is
    not finite, at most `_DAMPING_RETRIES` times.

    A Gram matrix with one dominant direction (a common mode of many parameters' columns,
    e.g. a window network's readouts early in training) has eigenvalues up to N times its
    mean diagonal, so relative damping 1e-4 gives condition numbers near 1e7, at float32's
    limit: three-body Allen-Cahn at d = 1000 with |K| ~ 30 failed its first step that
    way. The retry changes nothing where the first factorisation succeeds; where the
    Gram matrix itself is not finite, no damping helps and the step stays non-finite
    (the trainer's non-finite check reports it)."""
    eye = jnp.eye(gram.shape[0], dtype=gram.dtype)

    def factor(lam):
        return cho_factor(gram + lam * eye, lower=False)[0]

    def failed(state):
        tries, _, c = state
        return (tries < _DAMPING_RETRIES) & ~jnp.all(jnp.isfinite(c))

    def retry(state):
        tries, lam, _ = state
        return tries + 1, 10 * lam, factor(10 * lam)

    _, lam, c = jax.lax.while_loop(failed, retry, (0, lam, factor(lam)))
    return (c, False), lam
