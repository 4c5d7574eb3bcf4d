"""Names -> PDE constructors; `pdes.get(**pde.config())` rebuilds a PDE."""

import difflib
import functools
import inspect

from ._ball import BallPDE
from ._base import AbstractPDE
from ._hjb import HJBLQG, BlackScholesBarenblatt, HJBLin
from ._kdv import KdV1D, KdV2D
from ._parabolic import SemilinearParabolicPDE


def _ball(equation, body, wide=False):
    name = f"{equation}-{body}body" + ("-wide" if wide else "")
    return name, functools.partial(BallPDE, equation=equation, body=body, wide=wide, name=name)


_REGISTRY = dict(
    [
        _ball(eq, body)
        for body in ("two", "three")
        for eq in ("poisson", "allen-cahn", "sine-gordon")
    ]
    + [_ball(eq, "two", wide=True) for eq in ("poisson", "allen-cahn", "sine-gordon")]
    + [
        (
            "biharmonic-twobody",
            functools.partial(
                BallPDE, equation="biharmonic", body="two", name="biharmonic-twobody"
            ),
        ),
        (
            "kdv-highdim",
            functools.partial(BallPDE, equation="third-order", body="two", name="kdv-highdim"),
        ),
        ("kdv-1d", KdV1D),
        ("kdv-1d-gradient-enhanced", functools.partial(KdV1D, gradient_enhanced=True)),
        ("kdv-2d", KdV2D),
        ("heat-parabolic", functools.partial(SemilinearParabolicPDE, family="heat")),
        ("allen-cahn-parabolic", functools.partial(SemilinearParabolicPDE, family="allen-cahn")),
        ("sine-gordon-parabolic", functools.partial(SemilinearParabolicPDE, family="sine-gordon")),
        ("hjb-lqg", HJBLQG),
        ("hjb-lin", HJBLin),
        ("black-scholes-barenblatt", BlackScholesBarenblatt),
    ]
)
# PDEs whose dimension is fixed by their definition; `dim` may be omitted for these.
_FIXED_DIM = {"kdv-1d": 1, "kdv-1d-gradient-enhanced": 1, "kdv-2d": 2}


def names() -> list[str]:
    """The names accepted by `pdes.get`, sorted."""
    return sorted(_REGISTRY)


def get(
    name: str, dim: int | None = None, seed: int = 0, params: dict | None = None, **kwargs
) -> AbstractPDE:
    """Build the PDE `name` in dimension `dim` with random coefficients from `seed`.

    Extra parameters come as `params` (the form `pde.config()` writes) or keywords.

    **Raises:** `ValueError` for an unknown name (listing the names and the closest
    match) or a dimension the PDE does not support.
    """
    if name not in _REGISTRY:
        close = difflib.get_close_matches(str(name), names(), n=1, cutoff=0.0)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"Unknown PDE `name` {name!r}.{hint} Known names: {', '.join(names())}.")
    if dim is None:
        if name not in _FIXED_DIM:
            raise ValueError(f"`dim` is required for {name!r}.")
        dim = _FIXED_DIM[name]
    if params is not None and not isinstance(params, dict):
        raise ValueError(f"`params` must be a dict or None, got {type(params).__name__}.")
    options = {**(params or {}), **kwargs}
    accepted = _parameters(name)
    unknown = sorted(set(options) - accepted)
    if unknown:
        raise ValueError(
            f"`{unknown[0]}` is not a parameter of {name!r}; it accepts "
            f"{', '.join(sorted(accepted)) or 'no parameters'}."
        )
    return _REGISTRY[name](dim, seed, **options)


def _parameters(name: str) -> set[str]:
    """The keyword parameters `get` may pass on to the constructor of `name`."""
    factory = _REGISTRY[name]
    fixed = factory.keywords if isinstance(factory, functools.partial) else {}
    signature = inspect.signature(factory)
    return {
        p.name
        for p in signature.parameters.values()
        if p.kind is not p.VAR_KEYWORD and p.name not in ("dim", "seed", "name", *fixed)
    }
