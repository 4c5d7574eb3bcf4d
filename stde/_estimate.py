import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray

from ._checks import check_key, check_point
from ._custom_types import ScalarField
from ._estimators import AbstractEstimator, Exact, _cached_plan
from ._jets import from_plans, merge
from ._operators import AbstractOperator, Partial
from ._taylor.base import AbstractTaylorEngine


class Evaluation(eqx.Module):
    """The field's value, the operator estimate(s) and optionally the gradient at a point."""

    value: Float[Array, ""]
    estimate: Float[Array, ""] | Float[Array, " p"]
    gradient: Float[Array, " n"] | None


def default_engine() -> AbstractTaylorEngine:
    from ._taylor.collapsed import TaylorEngine

    return TaylorEngine()


def _check_field(fn, x):
    if not callable(fn):
        raise ValueError(f"`fn` must be a callable R^n -> R, got {type(fn).__name__}.")
    out = jax.eval_shape(fn, x)
    if getattr(out, "shape", None) != ():
        raise ValueError(
            f"`fn` must return a scalar, got shape {getattr(out, 'shape', type(out))} for "
            f"an input of shape {x.shape}."
        )
    dtype = getattr(out, "dtype", None)
    if dtype is None or not jnp.issubdtype(dtype, jnp.floating):
        raise ValueError(
            f"`fn` must return a real floating-point scalar, got dtype {dtype}; derivatives "
            "of a complex field would lose the imaginary part, and those of an int or bool "
            "field are zero: return a float (for a complex field, estimate the real and "
            "imaginary parts separately)."
        )


def evaluate(
    operator: AbstractOperator | tuple[AbstractOperator, ...] | list[AbstractOperator],
    fn: ScalarField,
    # `x` is annotated loosely on purpose: a wrong shape or dtype is a `ValueError` naming
    # `x` (docs/design.md), raised below, not a type-checker error.
    x: ArrayLike,
    *,
    estimator: AbstractEstimator = Exact(),
    key: PRNGKeyArray | None = None,
    gradient: bool = False,
    engine: AbstractTaylorEngine | None = None,
) -> Evaluation:
    """Evaluate `fn(x)` and one or several operators applied to `fn` at `x`, in one pass.

    **Arguments:**

    - `operator`: an operator, or a tuple of operators (all share the primal pass).
    - `fn`: a scalar field $\\mathbb{R}^n \\to \\mathbb{R}$; may close over parameters.
    - `x`: the point, shape `(n,)`.
    - `estimator`: `Exact()`, `SparseSTDE(...)` or `DenseSTDE(...)`.
    - `key`: PRNG key, required by the stochastic estimators.
    - `gradient`: also return $\\nabla u(x)$ (by reverse mode).
    - `engine`: the Taylor engine; defaults to `TaylorEngine()`.

    **Returns:** an `Evaluation` with `value`, `estimate` (a scalar for one operator,
    shape `(p,)` for a tuple of `p`) and `gradient` (or `None`).
    """
    single = isinstance(operator, AbstractOperator)
    operators = (operator,) if single else tuple(operator)
    if len(operators) == 0 or not all(isinstance(o, AbstractOperator) for o in operators):
        raise ValueError(
            "`operator` must be an operator such as `stde.Laplacian()` or a non-empty "
            f"tuple of them, got {operator!r}."
        )
    if not isinstance(estimator, AbstractEstimator):
        raise ValueError(
            "`estimator` must be `stde.Exact()`, `stde.SparseSTDE(...)` or "
            f"`stde.DenseSTDE(...)`, got {estimator!r}."
        )
    if engine is not None and not isinstance(engine, AbstractTaylorEngine):
        raise ValueError(
            f"`engine` must be `stde.TaylorEngine()`, `stde.JetEngine()` or None, got {engine!r}."
        )
    if not isinstance(gradient, bool):
        raise ValueError(f"`gradient` must be a bool, got {gradient!r}.")
    x = check_point(x)
    _check_field(fn, x)
    n = x.shape[0]
    if estimator.stochastic and key is None:
        raise ValueError(f"`{type(estimator).__name__}` is stochastic: pass `key=`.")
    if key is not None:
        check_key(key)
    engine = default_engine() if engine is None else engine

    p = len(operators)
    batches, partials = [], []
    for q, o in enumerate(operators):
        for coef, atom in o.terms():
            top = atom.max_coordinate()
            if top is not None and top >= n:
                raise ValueError(
                    f"`{atom!r}` needs input coordinate {top}, but `x` has shape ({n},)."
                )
            sub = None
            if estimator.stochastic:
                key, sub = jax.random.split(key)
            if isinstance(atom, Partial):
                # Exact for every estimator; planned together below so that partials
                # share their jets.
                partials.append((q, coef, _cached_plan(atom.index)))
                continue
            for b in estimator.jets(atom, x, sub):
                w = jnp.zeros((p, b.num_jets), b.weight.dtype).at[q].set(coef * b.weight.sum(0))
                batches.append(b._replace(weight=w))
    batches += from_plans(partials, p, x.dtype)
    value, est = engine.propagate(fn, x, merge(batches))
    grad = jax.grad(fn)(x) if gradient else None
    return Evaluation(value, est[0] if single else est, grad)


def estimate(
    operator: AbstractOperator,
    fn: ScalarField,
    x: ArrayLike,
    *,
    estimator: AbstractEstimator = Exact(),
    key: PRNGKeyArray | None = None,
    engine: AbstractTaylorEngine | None = None,
) -> Float[Array, ""]:
    """Estimate $(L u)(x)$ for the operator $L$ and scalar field $u$ = `fn`.

    Exact with `Exact()`; unbiased with `SparseSTDE` and `DenseSTDE`. jit-, vmap- and
    grad-compatible (gradients with respect to parameters closed over by `fn`).
    See `evaluate` for the arguments.
    """
    if not isinstance(operator, AbstractOperator):
        raise ValueError(
            f"`operator` must be an operator such as `stde.Laplacian()`, got {operator!r}."
        )
    return evaluate(operator, fn, x, estimator=estimator, key=key, engine=engine).estimate
