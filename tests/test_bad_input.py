"""Bad input at every public entry point of `stde`, `pdes` and `models`.

One table of cases: each names the entry point, describes the bad input, calls it, and
says which argument the `ValueError` must name (in backticks) and a regex for the
expected/received part of the message. `tests/BAD_INPUT.md` is the same table in prose,
with the message each case gives; `PYTHONPATH=. python tests/test_bad_input.py` rewrites it and
`test_markdown_lists_every_case` keeps the two in step.
"""

import dataclasses
import functools
import inspect
import math
import os
import re
import subprocess
import sys
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import jaxtyping
import pytest

import models
import pdes
import stde

KEY = jax.random.PRNGKey(0)
X3 = jnp.linspace(-0.3, 0.3, 3)
MARKDOWN = Path(__file__).with_name("BAD_INPUT.md")


def f(x):
    return jnp.sum(jnp.tanh(x) ** 2)


def _net(in_size=3):
    return models.MLP(in_size, 4, 2, key=KEY)


def _ball():
    return pdes.get("poisson-twobody", dim=3)


def _while(x):
    return jax.lax.while_loop(lambda c: c[0] < 3, lambda c: (c[0] + 1, c[1] * 2), (0, f(x)))[1]


def _g(x):
    return 5 / (10 + 2 * jnp.sum(x**2))


def _sort(x):
    return jnp.sum(jnp.sort(x) * x)


def _file(data: bytes) -> Path:
    import tempfile

    # One fixed place (the table in BAD_INPUT.md shows it); the cases run one at a time.
    path = Path(tempfile.gettempdir()) / "stde-bad-input" / "forged.eqx"
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(data)
    return path


def _forged(change, rehash: bool = True, payload: bytes | None = None) -> Path:
    """A `models.save` file whose header went through `change` (hash recomputed, as a
    careful forger would, unless `rehash=False`)."""
    import hashlib
    import json

    from models._serialisation import _header_hash

    path = _file(b"")
    models.save(path, _net(), metadata={"step": 3})
    line, data = path.read_bytes().split(b"\n", 1)
    header = json.loads(line)
    if payload is not None:
        data = payload
        header["payload_sha256"] = hashlib.sha256(data).hexdigest()
        header["payload_bytes"] = len(data)
    change(header)
    if rehash:
        header.pop("header_sha256", None)
        header["header_sha256"] = _header_hash(header)
    path.write_bytes(json.dumps(header).encode() + b"\n" + data)
    return path


def _nan_weights() -> Path:
    import io

    buffer = io.BytesIO()
    eqx.tree_serialise_leaves(
        buffer, jax.tree_util.tree_map(lambda a: a.at[0].set(jnp.nan), _net())
    )
    return _forged(lambda h: None, payload=buffer.getvalue())


@dataclasses.dataclass(frozen=True)
class Case:
    entry: str  # the public entry point
    input: str  # what is wrong, in words
    call: Callable[[], object]
    arg: str  # the argument the message must name in backticks
    match: str  # regex for the expected and received parts of the message
    # "value": a ValueError always. "type": a wrong Python type for a non-array argument,
    # a ValueError from the library's own check; under the test suite's runtime type
    # checker (jaxtyping + beartype) the annotation may reject it first, with a
    # `TypeCheckError` naming the parameter, which is as clear.
    kind: str = "value"


C = Case
T = functools.partial(Case, kind="type")
CASES = [
    # ---------------------------------------------------------------- stde: operators
    C(
        "stde.Laplacian",
        "dims=0",
        lambda: stde.Laplacian(dims=0),
        "dims",
        r"int >= 1 or None, got 0",
    ),
    T("stde.Laplacian", "dims=2.0", lambda: stde.Laplacian(dims=2.0), "dims", r"got 2\.0"),
    C("stde.Biharmonic", "dims=-1", lambda: stde.Biharmonic(dims=-1), "dims", r"got -1"),
    C(
        "stde.DiagonalDerivative",
        "order=0",
        lambda: stde.DiagonalDerivative(0),
        "order",
        r"int >= 1, got 0",
    ),
    T(
        "stde.DiagonalDerivative",
        "order=2.5",
        lambda: stde.DiagonalDerivative(2.5),
        "order",
        r"int >= 1, got 2\.5",
    ),
    C(
        "stde.DiagonalDerivative",
        "weights of shape (2, 2)",
        lambda: stde.DiagonalDerivative(2, weights=jnp.ones((2, 2))),
        "weights",
        r"one-dimensional, got shape \(2, 2\)",
    ),
    C(
        "stde.DiagonalDerivative",
        "weights of shape (3,) with dims=2",
        lambda: stde.DiagonalDerivative(2, weights=jnp.ones(3), dims=2),
        "weights",
        r"shape \(3,\), expected \(2,\)",
    ),
    C(
        "stde.DiagonalDerivative",
        "complex weights",
        lambda: stde.DiagonalDerivative(2, weights=jnp.ones(3, complex)),
        "weights",
        r"real numbers, got dtype complex",
    ),
    C(
        "stde.DiagonalDerivative",
        "dims=0",
        lambda: stde.DiagonalDerivative(2, dims=0),
        "dims",
        r"int >= 1 or None, got 0",
    ),
    C("stde.Partial", "index=()", lambda: stde.Partial(()), "index", r"non-empty.*got \(\)"),
    C("stde.Partial", "index=(0, -1)", lambda: stde.Partial((0, -1)), "index", r"got \(0, -1\)"),
    T(
        "stde.Partial",
        "index=(0, 1.0)",
        lambda: stde.Partial((0, 1.0)),
        "index",
        r"got \(0, 1\.0\)",
    ),
    T("stde.Partial", "index=3 (not a tuple)", lambda: stde.Partial(3), "index", r"tuple.*got 3"),
    C(
        "stde.LinearCombination",
        "pairs=()",
        lambda: stde.LinearCombination(()),
        "pairs",
        r"at least one.*got \(\)",
    ),
    # --------------------------------------------------------------- stde: estimators
    C(
        "stde.SparseSTDE",
        "num_samples=0",
        lambda: stde.SparseSTDE(0),
        "num_samples",
        r"int >= 1, got 0",
    ),
    T(
        "stde.SparseSTDE",
        "num_samples=2.0",
        lambda: stde.SparseSTDE(2.0),
        "num_samples",
        r"int >= 1, got 2\.0",
    ),
    C(
        "stde.SparseSTDE",
        "num_samples=True",
        lambda: stde.SparseSTDE(True),
        "num_samples",
        r"int >= 1, got True",
    ),
    C(
        "stde.DenseSTDE",
        "num_samples=-3",
        lambda: stde.DenseSTDE(-3),
        "num_samples",
        r"int >= 1, got -3",
    ),
    T(
        "stde.DenseSTDE",
        "distribution='uniform'",
        lambda: stde.DenseSTDE(4, "uniform"),
        "distribution",
        r"'rademacher' or 'gaussian', got 'uniform'",
    ),
    # ------------------------------------------------------ stde: estimate / evaluate
    T(
        "stde.estimate",
        "operator='laplacian'",
        lambda: stde.estimate("laplacian", f, X3),
        "operator",
        r"operator such as `stde.Laplacian\(\)`, got 'laplacian'",
    ),
    C(
        "stde.estimate",
        "x of shape (2, 3)",
        lambda: stde.estimate(stde.Laplacian(), f, jnp.ones((2, 3))),
        "x",
        r"shape \(n,\), got \(2, 3\)",
    ),
    C(
        "stde.estimate",
        "x of shape ()",
        lambda: stde.estimate(stde.Laplacian(), f, jnp.ones(())),
        "x",
        r"shape \(n,\), got \(\)",
    ),
    C(
        "stde.estimate",
        "x of shape (0,)",
        lambda: stde.estimate(stde.Laplacian(), f, jnp.ones((0,))),
        "x",
        r"shape \(n,\), got \(0,\)",
    ),
    C(
        "stde.estimate",
        "integer x",
        lambda: stde.estimate(stde.Laplacian(), f, jnp.arange(3)),
        "x",
        r"floating-point.*got dtype int",
    ),
    C(
        "stde.estimate",
        "complex x",
        lambda: stde.estimate(stde.Laplacian(), f, jnp.ones(3, complex)),
        "x",
        r"floating-point.*got dtype complex",
    ),
    T(
        "stde.estimate",
        "fn not callable",
        lambda: stde.estimate(stde.Laplacian(), X3, X3),
        "fn",
        r"callable.*got ArrayImpl",
    ),
    C(
        "stde.estimate",
        "fn returns shape (3,)",
        lambda: stde.estimate(stde.Laplacian(), jnp.tanh, X3),
        "fn",
        r"scalar, got shape \(3,\)",
    ),
    C(
        "stde.estimate",
        "fn returns complex values",
        lambda: stde.estimate(stde.Laplacian(), lambda x: f(x) * (1 + 1j), X3),
        "fn",
        r"real floating-point scalar, got dtype complex",
    ),
    C(
        "stde.estimate",
        "fn returns an int",
        lambda: stde.estimate(stde.Laplacian(), lambda x: jnp.sum(x > 0), X3),
        "fn",
        r"real floating-point scalar, got dtype int",
    ),
    C(
        "stde.estimate",
        "fn returns a bool",
        lambda: stde.estimate(stde.Laplacian(), lambda x: jnp.any(x > 0), X3),
        "fn",
        r"real floating-point scalar, got dtype bool",
    ),
    C(
        "stde.estimate",
        "DiagonalDerivative weights callable returning complex",
        lambda: stde.estimate(stde.DiagonalDerivative(2, lambda x: x * 1j), f, X3),
        "weights",
        r"must give real numbers, got dtype complex",
    ),
    C(
        "stde.AbstractOperator.__mul__",
        "stde.Laplacian() * nan",
        lambda: stde.Laplacian() * float("nan"),
        "scalar",
        r"finite real number, got nan",
    ),
    C(
        "stde.AbstractOperator.__truediv__",
        "stde.Laplacian() / 0",
        lambda: stde.Laplacian() / 0,
        "scalar",
        r"must not be zero, got 0",
    ),
    T(
        "stde.estimate",
        "estimator='sparse'",
        lambda: stde.estimate(stde.Laplacian(), f, X3, estimator="sparse"),
        "estimator",
        r"`stde.Exact\(\)`.*got 'sparse'",
    ),
    T(
        "stde.estimate",
        "estimator=stde.SparseSTDE (the class)",
        lambda: stde.estimate(stde.Laplacian(), f, X3, estimator=stde.SparseSTDE),
        "estimator",
        r"got <class",
    ),
    C(
        "stde.estimate",
        "stochastic estimator, no key",
        lambda: stde.estimate(stde.Laplacian(), f, X3, estimator=stde.SparseSTDE(2)),
        "key",
        r"`SparseSTDE` is stochastic: pass `key=`",
    ),
    T(
        "stde.estimate",
        "key=0 (not a PRNG key)",
        lambda: stde.estimate(stde.Laplacian(), f, X3, estimator=stde.SparseSTDE(2), key=0),
        "key",
        r"PRNG key.*got 0",
    ),
    C(
        "stde.estimate",
        "Partial((0, 5)) on x of shape (3,)",
        lambda: stde.estimate(stde.Partial((0, 5)), f, X3),
        "x",
        r"needs input coordinate 5, but `x` has shape \(3,\)",
    ),
    C(
        "stde.estimate",
        "Laplacian(dims=4) on x of shape (3,)",
        lambda: stde.estimate(stde.Laplacian(dims=4), f, X3),
        "x",
        r"needs input coordinate 3, but `x` has shape \(3,\)",
    ),
    C(
        "stde.estimate",
        "weights function returns shape (2,) for dims=3",
        lambda: stde.estimate(stde.DiagonalDerivative(2, weights=lambda x: x[:2], dims=3), f, X3),
        "weights",
        r"gave shape \(2,\), expected \(3,\)",
    ),
    C(
        "stde.estimate",
        "DenseSTDE for DiagonalDerivative(4)",
        lambda: stde.estimate(
            stde.DiagonalDerivative(4), f, X3, estimator=stde.DenseSTDE(4), key=KEY
        ),
        "DenseSTDE",
        r"cannot estimate `DiagonalDerivative\(order=4\)`.*use `SparseSTDE` or `Exact`",
    ),
    C(
        "stde.estimate",
        "DenseSTDE for DiagonalDerivative(3)",
        lambda: stde.estimate(
            stde.DiagonalDerivative(3), f, X3, estimator=stde.DenseSTDE(4), key=KEY
        ),
        "DenseSTDE",
        r"cannot estimate `DiagonalDerivative\(order=3\)`",
    ),
    C(
        "stde.estimate",
        "DenseSTDE('rademacher') for Biharmonic",
        lambda: stde.estimate(stde.Biharmonic(), f, X3, estimator=stde.DenseSTDE(4), key=KEY),
        "DenseSTDE(distribution='rademacher')",
        r"cannot estimate `Biharmonic`.*use `DenseSTDE\(distribution='gaussian'\)`",
    ),
    T(
        "stde.estimate",
        "engine='jet'",
        lambda: stde.estimate(stde.Laplacian(), f, X3, engine="jet"),
        "engine",
        r"`stde.TaylorEngine\(\)`.*got 'jet'",
    ),
    C(
        "stde.estimate",
        "fn with lax.while_loop (jet engine)",
        lambda: stde.estimate(stde.Laplacian(), _while, X3, engine=stde.JetEngine()),
        "while",
        r"cannot propagate jets through the primitive",
    ),
    C(
        "stde.estimate",
        "fn with jnp.sort (default engine)",
        lambda: stde.estimate(stde.Laplacian(), _sort, X3),
        "sort",
        r"cannot propagate jets through the primitive",
    ),
    C(
        "stde.estimate",
        "fn with jax.nn.relu (JetEngine)",
        lambda: stde.estimate(
            stde.Laplacian(), lambda x: jnp.sum(jax.nn.relu(x)), X3, engine=stde.JetEngine()
        ),
        "custom_jvp_call",
        r"cannot propagate jets.*`jax.nn.relu`",
    ),
    C(
        "stde.estimate",
        "fn with jnp.arctan (JetEngine)",
        lambda: stde.estimate(
            stde.Laplacian(), lambda x: jnp.sum(jnp.arctan(x)), X3, engine=stde.JetEngine()
        ),
        "atan",
        r"cannot propagate jets.*the default engine has a rule",
    ),
    C(
        "stde.evaluate",
        "operator=()",
        lambda: stde.evaluate((), f, X3),
        "operator",
        r"non-empty tuple.*got \(\)",
    ),
    T(
        "stde.evaluate",
        "operator=(Laplacian(), 'u_xx')",
        lambda: stde.evaluate((stde.Laplacian(), "u_xx"), f, X3),
        "operator",
        r"got \(Laplacian",
    ),
    C(
        "stde.evaluate",
        "x of shape (1, 3)",
        lambda: stde.evaluate(stde.Laplacian(), f, jnp.ones((1, 3))),
        "x",
        r"got \(1, 3\)",
    ),
    T(
        "stde.evaluate",
        "gradient='yes'",
        lambda: stde.evaluate(stde.Laplacian(), f, X3, gradient="yes"),
        "gradient",
        r"bool, got 'yes'",
    ),
    # ------------------------------------------------------------ stde: planning, ref
    C(
        "stde.planning.plan_partial",
        "mi=()",
        lambda: stde.planning.plan_partial(()),
        "mi",
        r"non-empty.*got \(\)",
    ),
    C(
        "stde.planning.plan_partial",
        "mi=(0, -2)",
        lambda: stde.planning.plan_partial((0, -2)),
        "mi",
        r"non-negative int.*got \(0, -2\)",
    ),
    T(
        "stde.planning.plan_partial",
        "mi=(0, 1.0)",
        lambda: stde.planning.plan_partial((0, 1.0)),
        "mi",
        r"got \(0, 1\.0\)",
    ),
    C(
        "stde.planning.Jet",
        "order=0",
        lambda: stde.planning.Jet(0, ((1, ((0, Fraction(1)),)),)),
        "order",
        r"int >= 1, got 0",
    ),
    C(
        "stde.planning.Jet",
        "slot 0",
        lambda: stde.planning.Jet(2, ((0, ((0, Fraction(1)),)),)),
        "slots",
        r"int slots >= 1, got slot 0",
    ),
    C(
        "stde.reference.partial",
        "index=(0, -1)",
        lambda: stde.reference.partial(f, (0, -1)),
        "index",
        r"non-negative int.*got \(0, -1\)",
    ),
    C(
        "stde.reference.derivative_tensor",
        "order=-1",
        lambda: stde.reference.derivative_tensor(f, -1),
        "order",
        r"int >= 0, got -1",
    ),
    C(
        "stde.reference.laplacian_hessian",
        "x of shape (2, 3)",
        lambda: stde.reference.laplacian_hessian(f, jnp.ones((2, 3))),
        "x",
        r"shape \(n,\), got \(2, 3\)",
    ),
    C(
        "stde.reference.laplacian_fwd_over_rev",
        "x of shape ()",
        lambda: stde.reference.laplacian_fwd_over_rev(f, jnp.ones(())),
        "x",
        r"got \(\)",
    ),
    C(
        "stde.reference.laplacian_rev_over_rev",
        "integer x",
        lambda: stde.reference.laplacian_rev_over_rev(f, jnp.arange(3)),
        "x",
        r"floating-point.*got dtype int",
    ),
    # ---------------------------------------------------------------- pdes: registry
    C(
        "pdes.get",
        "name='poisson-2body'",
        lambda: pdes.get("poisson-2body", dim=3),
        "name",
        r"Unknown PDE.*'poisson-2body'.*Known names:.*poisson-twobody",
    ),
    T("pdes.get", "name=3", lambda: pdes.get(3, dim=3), "name", r"Unknown PDE `name` 3\."),
    C(
        "pdes.get",
        "dim omitted",
        lambda: pdes.get("poisson-twobody"),
        "dim",
        r"required for 'poisson-twobody'",
    ),
    C(
        "pdes.get",
        "dim=1 for a two-body PDE",
        lambda: pdes.get("poisson-twobody", dim=1),
        "dim",
        r"int >= 2 for the two-body.*got 1",
    ),
    C(
        "pdes.get",
        "dim=2 for a three-body PDE",
        lambda: pdes.get("allen-cahn-threebody", dim=2),
        "dim",
        r"int >= 3 for the three-body.*got 2",
    ),
    T(
        "pdes.get",
        "dim=2.5",
        lambda: pdes.get("sine-gordon-twobody", dim=2.5),
        "dim",
        r"got 2\.5",
    ),
    C("pdes.get", "dim=True", lambda: pdes.get("poisson-twobody", dim=True), "dim", r"got True"),
    C("pdes.get", "dim=0 (parabolic)", lambda: pdes.get("heat-parabolic", dim=0), "dim", "got 0"),
    C("pdes.get", "dim=-4 (HJB-LQG)", lambda: pdes.get("hjb-lqg", dim=-4), "dim", "got -4"),
    C("pdes.get", "dim=0 (HJB-Lin)", lambda: pdes.get("hjb-lin", dim=0), "dim", "got 0"),
    C(
        "pdes.get",
        "dim=0 (Black-Scholes-Barenblatt)",
        lambda: pdes.get("black-scholes-barenblatt", dim=0),
        "dim",
        "got 0",
    ),
    C("pdes.get", "dim=2 for kdv-1d", lambda: pdes.get("kdv-1d", dim=2), "dim", r"1 .*got 2"),
    C("pdes.get", "dim=3 for kdv-2d", lambda: pdes.get("kdv-2d", dim=3), "dim", r"2 .*got 3"),
    C(
        "pdes.get",
        "seed=-1",
        lambda: pdes.get("poisson-twobody", dim=3, seed=-1),
        "seed",
        r"int >= 0, got -1",
    ),
    T(
        "pdes.get",
        "seed='a'",
        lambda: pdes.get("hjb-lin", dim=3, seed="a"),
        "seed",
        r"int >= 0, got 'a'",
    ),
    C(
        "pdes.get",
        "unknown parameter sampling_mode=",
        lambda: pdes.get("poisson-twobody", dim=3, sampling_mode="volume"),
        "sampling_mode",
        r"not a parameter of 'poisson-twobody'.*sampling",
    ),
    T(
        "pdes.get",
        "params=[1]",
        lambda: pdes.get("poisson-twobody", dim=3, params=[1]),
        "params",
        r"dict.*got list",
    ),
    C(
        "pdes.get",
        "sampling='uniform'",
        lambda: pdes.get("poisson-twobody", dim=3, sampling="uniform"),
        "sampling",
        r"one of \('radius', 'volume'\), got 'uniform'",
    ),
    C(
        "pdes.get",
        "num_times=0 (parabolic)",
        lambda: pdes.get("heat-parabolic", dim=2, num_times=0),
        "num_times",
        "got 0",
    ),
    C(
        "pdes.get",
        "final_time=0 (HJB-Lin)",
        lambda: pdes.get("hjb-lin", dim=2, final_time=0.0),
        "final_time",
        r"positive.*got 0\.0",
    ),
    C(
        "pdes.get",
        "mu=0 (HJB-LQG)",
        lambda: pdes.get("hjb-lqg", dim=2, mu=0.0),
        "mu",
        r"positive.*got 0\.0",
    ),
    C(
        "pdes.get",
        "num_mc_samples=1 (HJB-LQG)",
        lambda: pdes.get("hjb-lqg", dim=2, num_mc_samples=1),
        "num_mc_samples",
        r">= 2, got 1",
    ),
    C(
        "pdes.get",
        "sigma=nan (Black-Scholes-Barenblatt)",
        lambda: pdes.get("black-scholes-barenblatt", dim=2, sigma=math.nan),
        "sigma",
        r"positive.*got nan",
    ),
    C(
        "pdes.get",
        "resolution=17 (kdv-1d)",
        lambda: pdes.get("kdv-1d", resolution=17),
        "resolution",
        r"even int >= 16, got 17",
    ),
    C(
        "pdes.get",
        "gradient_weight=-1 (kdv-1d-gradient-enhanced)",
        lambda: pdes.get("kdv-1d-gradient-enhanced", gradient_weight=-1.0),
        "gradient_weight",
        r">= 0.*got -1\.0",
    ),
    C(
        "pdes.BallPDE",
        "equation='heat'",
        lambda: pdes.BallPDE(3, equation="heat"),
        "equation",
        r"one of \(.*\), got 'heat'",
    ),
    C(
        "pdes.BallPDE",
        "body='four'",
        lambda: pdes.BallPDE(3, body="four"),
        "body",
        r"'two' or 'three', got 'four'",
    ),
    C(
        "pdes.BallPDE",
        "biharmonic with body='three'",
        lambda: pdes.BallPDE(3, equation="biharmonic", body="three"),
        "body",
        r"only defined with `body='two'`",
    ),
    C(
        "pdes.SemilinearParabolicPDE",
        "family='burgers'",
        lambda: pdes.SemilinearParabolicPDE(2, family="burgers"),
        "family",
        r"got 'burgers'",
    ),
    C(
        "pdes.CustomPDE",
        "dim=0",
        lambda: pdes.CustomPDE(0, stde.Laplacian()),
        "dim",
        r"int >= 1, got 0",
    ),
    T(
        "pdes.CustomPDE",
        "operator='laplacian'",
        lambda: pdes.CustomPDE(2, "laplacian"),
        "operator",
        r"`stde` operator.*got 'laplacian'",
    ),
    C(
        "pdes.CustomPDE",
        "domain='cube'",
        lambda: pdes.CustomPDE(2, stde.Laplacian(), domain="cube"),
        "domain",
        r"one of \('ball', 'box'\), got 'cube'",
    ),
    C(
        "pdes.CustomPDE",
        "radius=-1",
        lambda: pdes.CustomPDE(2, stde.Laplacian(), radius=-1.0),
        "radius",
        r"positive.*got -1\.0",
    ),
    C(
        "pdes.CustomPDE",
        "bounds=(1, -1)",
        lambda: pdes.CustomPDE(2, stde.Laplacian(), domain="box", bounds=(1.0, -1.0)),
        "bounds",
        r"low < high.*got \(1\.0, -1\.0\)",
    ),
    C(
        "pdes.CustomPDE",
        "final_time=-0.5",
        lambda: pdes.CustomPDE(2, stde.Laplacian(), final_time=-0.5),
        "final_time",
        r"positive.*got -0\.5",
    ),
    C(
        "pdes.CustomPDE",
        "an ansatz that reads time, no final_time",
        lambda: pdes.CustomPDE(2, stde.Laplacian(), ansatz=stde.InitialValueAnsatz(f)),
        "final_time",
        r"reads time .*but the PDE has none",
    ),
    C(
        "pdes.CustomPDE",
        "a BallAnsatz with final_time",
        lambda: pdes.CustomPDE(2, stde.Laplacian(), final_time=1.0, ansatz=stde.BallAnsatz()),
        "ansatz",
        r"BallAnsatz.*time .*included.*InitialValueAnsatz",
    ),
    C("stde.BallAnsatz", "radius=0", lambda: stde.BallAnsatz(0.0), "radius", r"positive.*got 0\.0"),
    C(
        "stde.BallAnsatz",
        "radius=nan",
        lambda: stde.BallAnsatz(math.nan),
        "radius",
        r"positive.*got nan",
    ),
    C("stde.BallAnsatz", "power=3", lambda: stde.BallAnsatz(power=3), "power", r"1 or 2, got 3"),
    T(
        "stde.InitialValueAnsatz",
        "condition not callable",
        lambda: stde.InitialValueAnsatz(1.0),
        "condition",
        r"callable, got float",
    ),
    C(
        "stde.InitialValueAnsatz",
        "period=-2",
        lambda: stde.InitialValueAnsatz(f, period=-2.0),
        "period",
        r"positive.*got -2\.0",
    ),
    C(
        "stde.InitialValueAnsatz",
        "period and box",
        lambda: stde.InitialValueAnsatz(f, period=2.0, box=((0.0,), (1.0,))),
        "box",
        r"`period` or `box`, not both",
    ),
    C(
        "stde.InitialValueAnsatz",
        "box bounds of different lengths",
        lambda: stde.InitialValueAnsatz(f, box=((0.0, 0.0), (1.0,))),
        "box",
        r"one bound per spatial coordinate.*low < high",
    ),
    C(
        "stde.InitialValueAnsatz",
        "box with low >= high",
        lambda: stde.InitialValueAnsatz(f, box=((0.0, 1.0), (1.0, 1.0))),
        "box",
        r"each low < high",
    ),
    T(
        "stde.InitialValueAnsatz",
        "box not a pair of sequences",
        lambda: stde.InitialValueAnsatz(f, box=(0.0, 1.0)),
        "box",
        r"two sequences of numbers",
    ),
    C(
        "stde.InitialValueAnsatz",
        "box with a non-finite bound",
        lambda: stde.InitialValueAnsatz(f, box=((0.0,), (math.inf,))),
        "box",
        r"two sequences of numbers",
    ),
    C(
        "models.Constrained",
        "box of another dimension than the input",
        lambda: models.Constrained(_net(), stde.InitialValueAnsatz(f, box=((0.0,), (1.0,))))(
            jnp.ones(3)
        ),
        "box",
        r"`box` bounds inputs of 2 coordinates.*got an input of 3",
    ),
    T(
        "stde.EvolvedInitialValueAnsatz",
        "condition not callable",
        lambda: stde.EvolvedInitialValueAnsatz("g"),
        "condition",
        r"callable, got str",
    ),
    C(
        "stde.TerminalValueAnsatz",
        "final_time=inf",
        lambda: stde.TerminalValueAnsatz(f, math.inf),
        "final_time",
        r"finite.*got inf",
    ),
    # --------------------------------------------------------------- pdes: instances
    C(
        "AbstractPDE.residual",
        "x of shape (4,) for input_dim 3",
        lambda: _ball().residual(_net(), jnp.ones(4)),
        "x",
        r"shape \(3,\), got \(4,\)",
    ),
    C(
        "AbstractPDE.residual",
        "batch x of shape (5, 3)",
        lambda: _ball().residual(_net(), jnp.ones((5, 3))),
        "x",
        r"shape \(3,\), got \(5, 3\).*jax.vmap",
    ),
    C(
        "AbstractPDE.residual",
        "integer x",
        lambda: _ball().residual(_net(), jnp.arange(3)),
        "x",
        r"floating-point.*got dtype int",
    ),
    C(
        "AbstractPDE.residual",
        "x without the time coordinate (parabolic)",
        lambda: pdes.get("heat-parabolic", dim=2).residual(_net(3), jnp.ones(2)),
        "x",
        r"shape \(3,\), got \(2,\)",
    ),
    T(
        "AbstractPDE.residual",
        "u not callable",
        lambda: _ball().residual(X3, X3),
        "u",
        r"callable.*got ArrayImpl",
    ),
    C(
        "AbstractPDE.residual",
        "u returns shape (3,)",
        lambda: _ball().residual(jnp.tanh, X3),
        "u",
        r"scalar.*got shape \(3,\)",
    ),
    T(
        "AbstractPDE.residual",
        "estimator='sparse'",
        lambda: _ball().residual(_net(), X3, estimator="sparse"),
        "estimator",
        r"got 'sparse'",
    ),
    C(
        "AbstractPDE.residual",
        "DenseSTDE for kdv-highdim (third order)",
        lambda: pdes.get("kdv-highdim", dim=3).residual(
            _net(), X3, estimator=stde.DenseSTDE(2), key=KEY
        ),
        "DenseSTDE",
        r"cannot estimate `DiagonalDerivative\(order=3\)`",
    ),
    C(
        "AbstractPDE.sample_interior",
        "n=0",
        lambda: _ball().sample_interior(KEY, 0),
        "n",
        r"int >= 1, got 0",
    ),
    T(
        "AbstractPDE.sample_interior",
        "n=2.5",
        lambda: pdes.get("hjb-lin", dim=2).sample_interior(KEY, 2.5),
        "n",
        r"int >= 1, got 2\.5",
    ),
    C(
        "AbstractPDE.sample_interior",
        "n=True",
        lambda: pdes.get("kdv-2d").sample_interior(KEY, True),
        "n",
        r"int >= 1, got True",
    ),
    T(
        "AbstractPDE.sample_interior",
        "key=0 (not a PRNG key)",
        lambda: _ball().sample_interior(0, 4),
        "key",
        r"PRNG key.*got 0",
    ),
    C(
        "BallPDE.sample_boundary",
        "n=-1",
        lambda: _ball().sample_boundary(KEY, -1),
        "n",
        r"int >= 1, got -1",
    ),
    C(
        "BallPDE.exact_solution",
        "x of shape (2,)",
        lambda: _ball().exact_solution(jnp.ones(2)),
        "x",
        r"shape \(3,\), got \(2,\)",
    ),
    C(
        "BallPDE.forcing",
        "x of shape (3, 1)",
        lambda: _ball().forcing(jnp.ones((3, 1))),
        "x",
        r"shape \(3,\), got \(3, 1\)",
    ),
    C(
        "AbstractPDE.reference_solution",
        "boolean x (kdv-1d)",
        lambda: pdes.get("kdv-1d").reference_solution(jnp.ones(2, bool)),
        "x",
        r"floating-point.*got dtype bool",
    ),
    C(
        "KdV2D.forcing",
        "x of shape (2,)",
        lambda: pdes.get("kdv-2d").forcing(jnp.ones(2)),
        "x",
        r"shape \(3,\), got \(2,\)",
    ),
    C(
        "HJBLQG.monte_carlo",
        "num_samples=1",
        lambda: pdes.get("hjb-lqg", dim=2).monte_carlo(jnp.zeros(3), num_samples=1),
        "num_samples",
        r">= 2, got 1",
    ),
    C(
        "HJBLQG.monte_carlo",
        "x of shape (2,)",
        lambda: pdes.get("hjb-lqg", dim=2).monte_carlo(jnp.zeros(2)),
        "x",
        r"shape \(3,\), got \(2,\)",
    ),
    C(
        "HJBLin.forcing",
        "x of shape (2,)",
        lambda: pdes.get("hjb-lin", dim=2).forcing(jnp.zeros(2)),
        "x",
        r"shape \(3,\), got \(2,\)",
    ),
    C(
        "CustomPDE.exact_solution",
        "x of shape (3,) for input_dim 2",
        lambda: pdes.CustomPDE(2, stde.Laplacian(), exact_solution=f).exact_solution(X3),
        "x",
        r"shape \(2,\), got \(3,\)",
    ),
    C(
        "pdes.sample_ball",
        "n=0",
        lambda: pdes.sample_ball(KEY, 0, 3),
        "n",
        r"int >= 1, got 0",
    ),
    C(
        "pdes.sample_ball",
        "dim=0",
        lambda: pdes.sample_ball(KEY, 4, 0),
        "dim",
        r"int >= 1, got 0",
    ),
    C(
        "pdes.sample_ball",
        "radius=-1",
        lambda: pdes.sample_ball(KEY, 4, 3, radius=-1.0),
        "radius",
        r"positive and finite.*got -1\.0",
    ),
    C(
        "pdes.sample_ball",
        "radius=inf",
        lambda: pdes.sample_ball(KEY, 4, 3, radius=math.inf),
        "radius",
        r"positive and finite.*got inf",
    ),
    C(
        "pdes.sample_ball",
        "sampling='uniform'",
        lambda: pdes.sample_ball(KEY, 4, 3, sampling="uniform"),
        "sampling",
        r"got 'uniform'",
    ),
    T(
        "pdes.sample_sphere",
        "n=1.5",
        lambda: pdes.sample_sphere(KEY, 1.5, 3),
        "n",
        r"int >= 1, got 1\.5",
    ),
    C(
        "pdes.sample_sphere",
        "radius=nan",
        lambda: pdes.sample_sphere(KEY, 2, 3, radius=math.nan),
        "radius",
        r"positive and finite.*got nan",
    ),
    C(
        "pdes.multilevel_picard",
        "level=-1",
        lambda: pdes.multilevel_picard(_g, jnp.sin, X3, 0.3, KEY, level=-1, num_samples=2),
        "level",
        "got -1",
    ),
    C(
        "pdes.multilevel_picard",
        "num_samples=0",
        lambda: pdes.multilevel_picard(_g, jnp.sin, X3, 0.3, KEY, level=2, num_samples=0),
        "num_samples",
        "got 0",
    ),
    C(
        "pdes.multilevel_picard",
        "t=-0.1",
        lambda: pdes.multilevel_picard(_g, jnp.sin, X3, -0.1, KEY, level=2, num_samples=2),
        "t",
        r">= 0 and finite, got",
    ),
    C(
        "pdes.multilevel_picard",
        "x of shape (2, 2, 3)",
        lambda: pdes.multilevel_picard(
            _g, jnp.sin, jnp.zeros((2, 2, 3)), 0.3, KEY, level=2, num_samples=2
        ),
        "x",
        r"got \(2, 2, 3\)",
    ),
    C(
        "pdes.multilevel_picard_mean",
        "repeats=1",
        lambda: pdes.multilevel_picard_mean(
            _g, jnp.sin, X3, 0.3, KEY, level=2, num_samples=2, repeats=1
        ),
        "repeats",
        "got 1",
    ),
    C(
        "pdes.research.trivial_fit_stats",
        "x of shape (5, 2) for input_dim 3",
        lambda: pdes.research.trivial_fit_stats(_ball(), jnp.zeros((5, 2))),
        "x",
        r"shape \(n, 3\), got \(5, 2\)",
    ),
    C(
        "pdes.research.trivial_fit_stats",
        "one point x of shape (3,)",
        lambda: pdes.research.trivial_fit_stats(_ball(), X3),
        "x",
        r"shape \(n, 3\), got \(3,\)",
    ),
    C(
        "pdes.research.trivial_fit_stats",
        "integer x",
        lambda: pdes.research.trivial_fit_stats(_ball(), jnp.zeros((2, 3), int)),
        "x",
        r"floating-point.*got int",
    ),
    C(
        "pdes.research.trivial_fit_stats",
        "x with a NaN",
        lambda: pdes.research.trivial_fit_stats(_ball(), jnp.zeros((2, 3)).at[1, 2].set(jnp.nan)),
        "x",
        r"finite.*1 non-finite",
    ),
    C(
        "pdes.research.trivial_fit_stats",
        "u of shape (4,) for 2 points",
        lambda: pdes.research.trivial_fit_stats(_ball(), jnp.zeros((2, 3)), jnp.zeros(4)),
        "u",
        r"shape \(2,\), got \(4,\)",
    ),
    C(
        "pdes.research.trivial_fit_stats",
        "u with an inf",
        lambda: pdes.research.trivial_fit_stats(
            _ball(), jnp.zeros((2, 3)), jnp.array([0.0, jnp.inf])
        ),
        "u",
        r"finite.*1 non-finite",
    ),
    T(
        "pdes.research.trivial_fit_formula",
        "a PDE instead of its ansatz",
        lambda: pdes.research.trivial_fit_formula(_ball()),
        "ansatz",
        r"stde.AbstractAnsatz`, got BallPDE",
    ),
    C(
        "pdes.research.trivial_rel_l2",
        "x of shape (5, 4) for input_dim 3",
        lambda: pdes.research.trivial_rel_l2(_ball(), jnp.zeros((5, 4))),
        "x",
        r"shape \(n, 3\), got \(5, 4\)",
    ),
    C(
        "pdes.research.trivial_rel_l2",
        "no points",
        lambda: pdes.research.trivial_rel_l2(_ball(), jnp.zeros((0, 3))),
        "x",
        r"at least one point, got none",
    ),
    # ------------------------------------------------------------------------ models
    C("models.MLP", "in_size=0", lambda: models.MLP(0, key=KEY), "in_size", r">= 1, got 0"),
    T("models.MLP", "width=8.0", lambda: models.MLP(3, 8.0, key=KEY), "width", r"got 8\.0"),
    C("models.MLP", "depth=0", lambda: models.MLP(3, 8, 0, key=KEY), "depth", r">= 1, got 0"),
    C(
        "models.MLP",
        "activation='relu'",
        lambda: models.MLP(3, 8, 2, "relu", key=KEY),
        "activation",
        r"one of \['gelu', 'silu', 'sin', 'tanh'\] or a callable, got 'relu'",
    ),
    C(
        "models.MLP",
        "gain=0",
        lambda: models.MLP(3, 8, 2, gain=0.0, key=KEY),
        "gain",
        r"positive and finite.*got 0\.0",
    ),
    C(
        "models.MLP",
        "dtype=int32",
        lambda: models.MLP(3, 8, 2, dtype=jnp.int32, key=KEY),
        "dtype",
        r"floating-point.*got int32",
    ),
    C(
        "models.SharedMLP",
        "block_size=3 for in_size=4",
        lambda: models.SharedMLP(4, 3, key=KEY),
        "block_size",
        r"divisible.*in_size=4, block_size=3",
    ),
    C(
        "models.SharedMLP",
        "block_size=0",
        lambda: models.SharedMLP(4, 0, key=KEY),
        "block_size",
        r">= 1, got 0",
    ),
    C(
        "models.ResidualMLP",
        "depth=1",
        lambda: models.ResidualMLP(3, 8, 1, key=KEY),
        "depth",
        r">= 2, got 1",
    ),
    C(
        "models.WindowMLP",
        "window=5 for in_size=4",
        lambda: models.WindowMLP(4, 5, key=KEY),
        "window",
        r"window <= in_size.*window=5, in_size=4",
    ),
    C(
        "models.WindowMLP",
        "depth=1",
        lambda: models.WindowMLP(4, 2, 8, 1, key=KEY),
        "depth",
        r">= 2, got 1",
    ),
    C(
        "models.WindowMLP",
        "scale=0",
        lambda: models.WindowMLP(4, 2, scale=0.0, key=KEY),
        "scale",
        r"positive and finite.*got 0\.0",
    ),
    T(
        "models.WindowMLP",
        "centred=1",
        lambda: models.WindowMLP(4, 2, centred=1, key=KEY),
        "centred",
        r"must be a bool, got 1",
    ),
    C(
        "models.MLP.__call__",
        "x of shape (4,) for in_size 3",
        lambda: _net()(jnp.ones(4)),
        "x",
        r"MLP: `x` must have shape \(3,\), got \(4,\)",
    ),
    C(
        "models.MLP.__call__",
        "batch x of shape (8, 3)",
        lambda: _net()(jnp.ones((8, 3))),
        "x",
        r"shape \(3,\), got \(8, 3\).*jax.vmap",
    ),
    C(
        "models.MLP.__call__",
        "integer x",
        lambda: _net()(jnp.arange(3)),
        "x",
        r"floating-point.*got dtype int",
    ),
    C(
        "models.SharedMLP.__call__",
        "x of shape (2,) for in_size 4",
        lambda: models.SharedMLP(4, 2, 4, 2, key=KEY)(jnp.ones(2)),
        "x",
        r"shape \(4,\), got \(2,\)",
    ),
    C(
        "models.ResidualMLP.__call__",
        "x of shape ()",
        lambda: models.ResidualMLP(3, 4, 2, key=KEY)(jnp.ones(())),
        "x",
        r"shape \(3,\), got \(\)",
    ),
    C(
        "models.FourierFeatures",
        "num_features=0",
        lambda: models.FourierFeatures(3, 0, key=KEY),
        "num_features",
        r">= 1, got 0",
    ),
    C(
        "models.FourierFeatures",
        "scale=-1",
        lambda: models.FourierFeatures(3, 2, -1.0, key=KEY),
        "scale",
        r"positive and finite.*got -1\.0",
    ),
    C(
        "models.FourierFeatures.__call__",
        "x of shape (2,) for in_size 3",
        lambda: models.FourierFeatures(3, 2, key=KEY)(jnp.ones(2)),
        "x",
        r"shape \(3,\), got \(2,\)",
    ),
    C(
        "models.PeriodicEmbedding",
        "coords=(3,) for in_size 2",
        lambda: models.PeriodicEmbedding(2, (3,)),
        "coords",
        r"in \[0, 2\), got \(3,\)",
    ),
    C(
        "models.PeriodicEmbedding",
        "coords=(0, 0)",
        lambda: models.PeriodicEmbedding(2, (0, 0)),
        "coords",
        r"distinct.*got \(0, 0\)",
    ),
    T(
        "models.PeriodicEmbedding",
        "coords=0 (not a tuple)",
        lambda: models.PeriodicEmbedding(2, 0),
        "coords",
        r"tuple.*got 0",
    ),
    C(
        "models.PeriodicEmbedding",
        "period=0",
        lambda: models.PeriodicEmbedding(2, (0,), 0.0),
        "period",
        r"positive.*got 0\.0",
    ),
    C(
        "models.PeriodicEmbedding",
        "num_frequencies=0",
        lambda: models.PeriodicEmbedding(2, (0,), 2.0, 0),
        "num_frequencies",
        r">= 1, got 0",
    ),
    C(
        "models.PeriodicEmbedding.__call__",
        "x of shape (3,) for in_size 2",
        lambda: models.PeriodicEmbedding(2, (0,))(X3),
        "x",
        r"shape \(2,\), got \(3,\)",
    ),
    C(
        "models.SquaredNorm",
        "num_coords=3 for in_size 2",
        lambda: models.SquaredNorm(2, 3),
        "num_coords",
        r"at most `in_size` = 2, got 3",
    ),
    C(
        "models.SquaredNorm",
        "num_coords=0",
        lambda: models.SquaredNorm(2, 0),
        "num_coords",
        r">= 1, got 0",
    ),
    C(
        "models.SquaredNorm.__call__",
        "x of shape (3,) for in_size 2",
        lambda: models.SquaredNorm(2, 1)(X3),
        "x",
        r"shape \(2,\), got \(3,\)",
    ),
    C(
        "models.Embedded",
        "net.in_size 3 after an embedding with out_size 4",
        lambda: models.Embedded(models.FourierFeatures(3, 2, key=KEY), _net()),
        "net.in_size",
        r"`embedding.out_size` = 4, got 3",
    ),
    T(
        "models.WithRadial",
        "net=a function",
        lambda: models.WithRadial(f),
        "net",
        r"must be a `models` field, got function",
    ),
    C(
        "models.WithRadial",
        "dtype=int32",
        lambda: models.WithRadial(_net(), dtype=jnp.int32),
        "dtype",
        r"floating-point dtype such as jnp.float32, got int32",
    ),
    C(
        "models.WithRadial.__call__",
        "x of shape (3,) for in_size 2",
        lambda: models.WithRadial(_net(2))(X3),
        "x",
        r"shape \(2,\), got \(3,\)",
    ),
    C(
        "models.Constrained",
        "net.in_size 1 in a time-dependent ansatz",
        lambda: models.Constrained(_net(1), stde.TerminalValueAnsatz(f, 1.0)),
        "net.in_size",
        r">= 2 \(space then time\), got 1",
    ),
    T(
        "models.Constrained",
        "ansatz='ball'",
        lambda: models.Constrained(_net(), "ball"),
        "ansatz",
        r"`stde.AbstractAnsatz`.*got str",
    ),
    C(
        "models.Constrained.__call__",
        "x of shape (2,) for in_size 3",
        lambda: models.Constrained(_net(), stde.BallAnsatz())(jnp.ones(2)),
        "x",
        r"Constrained: `x` must have shape \(3,\), got \(2,\)",
    ),
    C(
        "models.Constrained.__call__",
        "integer x",
        lambda: models.Constrained(_net(), stde.BallAnsatz(power=2))(jnp.arange(3)),
        "x",
        r"floating-point.*got dtype int",
    ),
    T(
        "models.OperatorLayer",
        "operator='laplacian'",
        lambda: models.OperatorLayer("laplacian"),
        "operator",
        r"`stde.Laplacian\(\)`, got 'laplacian'",
    ),
    T(
        "models.OperatorLayer",
        "estimator=16",
        lambda: models.OperatorLayer(stde.Laplacian(), 16),
        "estimator",
        r"got 16",
    ),
    C(
        "models.OperatorLayer.__call__",
        "x of shape (4,) for u.in_size 3",
        lambda: models.OperatorLayer(stde.Laplacian())(_net(), jnp.ones(4)),
        "x",
        r"OperatorLayer: `x` must have shape \(3,\), got \(4,\)",
    ),
    T(
        "models.OperatorLayer.__call__",
        "u not callable",
        lambda: models.OperatorLayer(stde.Laplacian())(X3, X3),
        "u",
        r"callable scalar field, got ArrayImpl",
    ),
    C(
        "models.OperatorLayer.__call__",
        "stochastic estimator, no key",
        lambda: models.OperatorLayer(stde.Laplacian(), stde.SparseSTDE(2))(_net(), X3),
        "key",
        r"`SparseSTDE` is stochastic: pass `key=`",
    ),
    C(
        "models.OperatorLayer.evaluate",
        "x of shape (1, 3)",
        lambda: models.OperatorLayer(stde.Laplacian()).evaluate(_net(), jnp.ones((1, 3))),
        "x",
        r"shape \(3,\), got \(1, 3\)",
    ),
    C(
        "models.SumLayer",
        "one layer",
        lambda: models.SumLayer((models.OperatorLayer(stde.Laplacian()),)),
        "layers",
        r"at least two.*got 1",
    ),
    C(
        "models.trainable_spec",
        "which='middle'",
        lambda: models.trainable_spec(_net(), "middle"),
        "which",
        r"one of \[.*\], got 'middle'",
    ),
    C(
        "models.zero_last",
        "a model without linear layers",
        lambda: models.zero_last({"w": jnp.ones(3)}),
        "model",
        r"has no `eqx.nn.Linear` layer to set to zero",
    ),
    C(
        "models.output_bias",
        "a model without linear layers",
        lambda: models.output_bias({"w": jnp.ones(3)}),
        "model",
        r"has no `eqx.nn.Linear` layer to take the output bias from",
    ),
    C(
        "models.output_bias",
        "an output layer without bias",
        lambda: models.output_bias(eqx.nn.Linear(2, 1, use_bias=False, key=jax.random.key(0))),
        "model",
        r"last `eqx.nn.Linear` of `model` has no bias",
    ),
    C(
        "models.freeze_labels",
        "which='first' on a model without linear layers",
        lambda: models.freeze_labels({"w": jnp.ones(3)}, "first"),
        "model",
        r"no `eqx.nn.Linear`",
    ),
    T(
        "models.save",
        "metadata=[1]",
        lambda: models.save("/nonexistent/m.eqx", _net(), metadata=[1]),
        "metadata",
        r"dict, got list",
    ),
    C(
        "models.save",
        "metadata with a non-JSON value",
        lambda: models.save("/nonexistent/m.eqx", _net(), metadata={"a": object()}),
        "metadata",
        r"JSON-serialisable",
    ),
    C(
        "models.save",
        "model with a NaN parameter",
        lambda: models.save(
            "/nonexistent/m.eqx",
            jax.tree_util.tree_map(lambda a: a.at[0].set(jnp.nan), _net()),
        ),
        "model",
        r"finite.*non-finite",
    ),
    C(
        "models.save",
        "path is a directory",
        lambda: models.save(Path(__file__).parent, _net()),
        "path",
        r"directory",
    ),
    C(
        "models.load",
        "path is not a stde-zoo file",
        lambda: models.load(__file__),
        "test_bad_input.py",
        r"not a stde-zoo model file",
    ),
    C(
        "models.load",
        "header with leaves=5",
        lambda: models.load(_forged(lambda h: h.update(leaves=5))),
        "leaves",
        r"damaged header: `leaves` is int 5",
    ),
    C(
        "models.load",
        "header with metadata=[1]",
        lambda: models.load(_forged(lambda h: h.update(metadata=[1]))),
        "metadata",
        r"damaged header: `metadata` is list",
    ),
    C(
        "models.load",
        "header declaring a 4 TB leaf",
        lambda: models.load(
            _forged(lambda h: h["leaves"].__setitem__(0, [[10**6] * 2, "float32"]))
        ),
        "forged.eqx",
        r"declares \d+ bytes of parameters, but the file holds \d+",
    ),
    C(
        "models.load",
        "header with step changed, hash not",
        lambda: models.load(_forged(lambda h: h["metadata"].update(step=-4), rehash=False)),
        "forged.eqx",
        r"header's sha256 does not match",
    ),
    C(
        "models.load",
        "NaN weights (hashes recomputed)",
        lambda: models.load(_nan_weights()),
        "forged.eqx",
        r"holds non-finite values",
    ),
    C(
        "models.read_header",
        "200 000-deep JSON header",
        lambda: models.read_header(_file(b"[" * 200_000 + b"]" * 200_000 + b"\n")),
        "forged.eqx",
        r"nested too deeply",
    ),
    C(
        "models.read_header",
        "path=/dev/zero (not a regular file)",
        lambda: models.read_header("/dev/zero"),
        "/dev/zero",
        r"not a regular file",
    ),
    C(
        "models.read_header",
        "path is a directory",
        lambda: models.read_header(Path(__file__).parent),
        "path",
        r"directory",
    ),
]


def _typechecked(config) -> bool:
    return bool(config.getoption("jaxtyping_packages", default=None))


def _names_in_backticks(message: str) -> list[str]:
    return re.findall(r"`([^`]*)`", message)


def _check_value_error(case: Case, error: ValueError):
    message = str(error)
    assert re.search(case.match, message, re.DOTALL), message
    named = _names_in_backticks(message)
    assert any(case.arg in n for n in named), f"`{case.arg}` not named in: {message}"


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.entry}[{c.input}]")
def test_bad_input(case, request):
    if case.kind == "type" and _typechecked(request.config):
        with pytest.raises((ValueError, jaxtyping.TypeCheckError)) as info:
            case.call()
        if isinstance(info.value, jaxtyping.TypeCheckError):
            # "...typechecking parameter 'x'", or for some `__init__`s only the
            # "Called with parameters: {..., 'x': ...}" listing.
            assert f"'{case.arg}'" in str(info.value), str(info.value)
            return
        _check_value_error(case, info.value)
    else:
        with pytest.raises(ValueError) as info:
            case.call()
        _check_value_error(case, info.value)


def test_bad_input_without_the_type_checker(request):
    """Users run without jaxtyping's import hook: there every case must be a ValueError."""
    if not _typechecked(request.config):
        pytest.skip("this run has no type checker: `test_bad_input` already checks it")
    cmd = [sys.executable, "-m", "pytest", __file__, "-q", "-o", "addopts=", "-p"]
    cmd += ["no:cacheprovider", "-k", "test_bad_input and not without", "-x"]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent)}
    result = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


# Public names that take no input, are abstract, or are reached through another entry
# point of the table; everything else in the three `__init__` files must have a case.
EXEMPT = {
    "stde.AbstractAnsatz": "abstract",
    "stde.NoAnsatz": "no arguments",
    "stde.AbstractAtom": "abstract",
    "stde.AbstractEstimator": "abstract",
    "stde.AbstractOperator": "abstract",
    "stde.AbstractTaylorEngine": "abstract",
    "stde.Exact": "no arguments",
    "stde.TaylorEngine": "no arguments; unsupported functions are cases of `stde.estimate`",
    "stde.JetEngine": "no arguments; unsupported functions are cases of `stde.estimate`",
    "stde.Evaluation": "result container returned by `stde.evaluate`",
    "stde.planning.Plan": "result of `stde.planning.plan_partial`",
    "stde.planning.expand_jet": "takes a `stde.planning.Jet`, whose constructor validates",
    "stde.reference.forward_laplacian": "optional `folx`; passes `x` to folx unchanged",
    "pdes.AbstractPDE": "abstract; its methods have rows (`AbstractPDE.residual`, ...)",
    "pdes.names": "no arguments",
    "pdes.research.cache_dir": "no arguments",
    "pdes.research.REFERENCE_VALUES": "constant",
    "pdes.research.TrivialFitStats": "result container of `pdes.research.trivial_fit_stats`",
    "pdes.HJBLQG": "constructor reached through `pdes.get('hjb-lqg', ...)` rows",
    "pdes.HJBLin": "constructor reached through `pdes.get('hjb-lin', ...)` rows",
    "pdes.BlackScholesBarenblatt": "constructor reached through `pdes.get` rows",
    "pdes.KdV1D": "constructor reached through `pdes.get('kdv-1d', ...)` rows",
    "pdes.KdV2D": "constructor reached through `pdes.get('kdv-2d', ...)` rows",
    "models.AbstractEmbedding": "abstract",
    "models.AbstractField": "abstract",
    "models.AbstractOperatorLayer": "abstract",
}


def _public_names() -> set[str]:
    names = set()
    for package in (stde, stde.planning, stde.reference, pdes, pdes.research, models):
        prefix = package.__name__
        for n in dir(package):
            value = getattr(package, n)
            if (
                n.startswith("_")
                or inspect.ismodule(value)
                or getattr(value, "__module__", prefix).split(".")[0]
                not in (
                    "stde",
                    "pdes",
                    "models",
                )
            ):
                continue
            if package is stde.reference and not callable(value):
                continue
            names.add(f"{prefix}.{n}")
    return names


def test_every_public_entry_point_has_a_case():
    covered = {c.entry.split(".__call__")[0] for c in CASES}
    missing = _public_names() - covered - set(EXEMPT)
    assert not missing, sorted(missing)


def _markdown_input(case: Case) -> str:
    return case.input.replace("|", "/")


def render_markdown() -> str:
    """The table of cases with the message each gives (without the type checker)."""
    root = str(Path(__file__).parent.parent) + os.sep
    lines = [MARKDOWN.read_text().split("<!-- table -->")[0] + "<!-- table -->", ""]
    lines += ["| entry point | input | error |", "| --- | --- | --- |"]
    for case in CASES:
        try:
            case.call()
            message = "(no error)"
        except ValueError as e:
            message = str(e).replace(root, "")
        message = " ".join(message.split()).replace("|", "\\|")
        if case.kind == "type":
            message += " *(type; see above)*"
        lines.append(f"| `{case.entry}` | {_markdown_input(case)} | {message} |")
    return "\n".join(lines) + "\n"


def test_markdown_lists_every_case():
    rows = set()
    for line in MARKDOWN.read_text().splitlines():
        m = re.match(r"\| `([^`]+)` \| (.*?) \| ", line)
        if m:
            rows.add((m.group(1), m.group(2)))
    missing = {(c.entry, _markdown_input(c)) for c in CASES} - rows
    assert not missing, (
        f"run `PYTHONPATH=. python tests/test_bad_input.py` to update: {sorted(missing)}"
    )


if __name__ == "__main__":
    jax.config.update("jax_enable_x64", True)
    MARKDOWN.write_text(render_markdown())
    print(f"wrote {MARKDOWN} ({len(CASES)} cases)", file=sys.stderr)
