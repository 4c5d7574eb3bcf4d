"""models.save / models.load: round trips, headers, and clear errors on bad files."""

import json

import equinox as eqx
import jax
import jax.numpy as jnp
import pytest
from helpers import tree_allclose

import models
import stde


def _g(xs):
    return jnp.sum(jnp.cos(xs))


def _rebuildable(key):
    k1, k2, k3 = jax.random.split(key, 3)
    return {
        "mlp": models.MLP(3, 8, 3, "silu", key=k1),
        "shared": models.SharedMLP(4, 2, 8, 2, key=k1),
        "window": models.WindowMLP(5, 2, 8, 3, 2, scale=3.0, key=k2),
        # Centred, with a nonzero readout: a load that dropped `centred` would shift it.
        "window-centred": eqx.tree_at(
            lambda n: n.readout.weight,
            models.WindowMLP(5, 2, 8, 3, 2, scale=3.0, centred=True, key=k2),
            jax.random.normal(k3, (1, 8)),
        ),
        "residual-ball": models.Constrained(
            models.ResidualMLP(3, 8, 3, key=k2), stde.BallAnsatz(radius=2.0)
        ),
        "clamped": models.Constrained(models.MLP(3, 8, 2, key=k3), stde.BallAnsatz(power=2)),
        # a nonzero: a load that rebuilt the term at zero would differ.
        "radial": models.Constrained(
            eqx.tree_at(
                lambda m: m.weight,
                models.WithRadial(models.MLP(3, 8, 1, key=k1)),
                jnp.asarray(0.7),
            ),
            stde.BallAnsatz(),
        ),
        "unconstrained": models.Constrained(models.MLP(3, 8, 2, key=k3), stde.NoAnsatz()),
        "fourier": models.Embedded(
            models.FourierFeatures(3, 2, key=k1), models.MLP(4, 8, 2, "sin", key=k2)
        ),
        "periodic": models.Embedded(
            models.PeriodicEmbedding(3, (0,), 2.0, 1), models.MLP(4, 8, 2, key=k3)
        ),
        "squared-norm": models.Constrained(
            models.Embedded(models.SquaredNorm(3, 2), models.MLP(4, 8, 2, key=k1)),
            stde.BallAnsatz(),
        ),
    }


@pytest.mark.parametrize("name", sorted(_rebuildable(jax.random.PRNGKey(0))))
def test_round_trip_without_skeleton(name, tmp_path, getkey):
    model = _rebuildable(getkey())[name]
    path = tmp_path / "model.eqx"
    models.save(path, model, metadata={"step": 7, "note": "hi"})
    loaded = models.load(path)
    assert type(loaded) is type(model)
    assert tree_allclose(loaded, model, rtol=0, atol=0)
    xs = 0.3 * jax.random.normal(getkey(), (4, model.in_size))
    assert jnp.array_equal(jax.vmap(loaded)(xs), jax.vmap(model)(xs))
    header = models.read_header(path)
    assert header["metadata"] == {"step": 7, "note": "hi"}
    assert header["spec"]["class"] == type(model).__name__
    assert header["dtype"] == "float64"
    assert header["jax_version"] == jax.__version__
    assert header["equinox_version"] == eqx.__version__
    assert not any(p.name.endswith(".tmp") for p in tmp_path.iterdir())


def test_callables_need_skeleton(tmp_path, getkey):
    model = models.Constrained(models.MLP(3, 8, 2, key=getkey()), stde.InitialValueAnsatz(_g))
    path = tmp_path / "ivp.eqx"
    models.save(path, model)
    assert models.read_header(path)["spec"] is None
    match = r"cannot be rebuilt.*`InitialValueAnsatz.condition`.*like="
    with pytest.raises(ValueError, match=match):
        models.load(path)
    skeleton = models.Constrained(models.MLP(3, 8, 2, key=getkey()), stde.InitialValueAnsatz(_g))
    loaded = models.load(path, like=skeleton)
    x = jnp.array([0.1, -0.2, 0.3])
    assert jnp.array_equal(loaded(x), model(x))
    assert not jnp.array_equal(skeleton(x), model(x))


def _rewrite_spec(path, spec):
    """`path` with its header's `spec` replaced (and the header hash redone)."""
    from models._serialisation import _header_hash

    line, payload = path.read_bytes().split(b"\n", 1)
    header = json.loads(line)
    header["spec"] = spec
    header["header_sha256"] = _header_hash(header)
    path.write_bytes(json.dumps(header).encode() + b"\n" + payload)


def test_files_from_before_the_shared_ansatz_kinds_load(tmp_path, getkey):
    """Files written when `models` had one wrapper class per ansatz kind (`BallAnsatz`,
    `ClampedBallAnsatz`, `PeriodicAnsatz`) name those classes in their header; they hold
    the same leaves as today's `Constrained` / `Embedded`, and load into them, with or
    without a skeleton (the shipped solvers are such files)."""
    net = models.MLP(3, 8, 2, key=getkey())
    mlp_spec = models.read_header(_saved(tmp_path / "net.eqx", net))["spec"]
    cases = [
        (models.Constrained(net, stde.BallAnsatz(2.0)), "BallAnsatz", {"radius": 2.0}),
        (models.Constrained(net, stde.BallAnsatz(power=2)), "ClampedBallAnsatz", {"radius": 1.0}),
    ]
    for model, old, extra in cases:
        path = _saved(tmp_path / f"{old}.eqx", model)
        hyper = {"net": {"__module__": mlp_spec}, **extra}
        _rewrite_spec(path, {"class": old, "hyperparameters": hyper})
        x = jnp.array([0.1, -0.2, 0.3])
        for loaded in (models.load(path), models.load(path, like=model)):
            assert loaded.ansatz == model.ansatz
            assert jnp.array_equal(loaded(x), model(x))
    periodic = models.Embedded(models.PeriodicEmbedding(2, (0,), 2.0, 1), net)
    path = _saved(tmp_path / "periodic.eqx", periodic)
    hyper = {"net": {"__module__": mlp_spec}, "in_size": 2, "coords": [0], "period": 2.0}
    _rewrite_spec(
        path, {"class": "PeriodicAnsatz", "hyperparameters": hyper | {"num_frequencies": 1}}
    )
    x = jnp.array([0.4, 0.7])
    for loaded in (models.load(path), models.load(path, like=periodic)):
        assert jnp.array_equal(loaded(x), periodic(x))


def _saved(path, model):
    models.save(path, model)
    return path


def test_any_pytree_with_skeleton(tmp_path, getkey):
    # The zoo's checkpoints: model and an operator layer (python-float leaves) together.
    tree = (models.MLP(3, 8, 2, key=getkey()), 0.5 * models.OperatorLayer(stde.Laplacian()))
    path = tmp_path / "ckpt.eqx"
    models.save(path, tree, metadata={"preset": "x"})
    like = (models.MLP(3, 8, 2, key=getkey()), models.OperatorLayer(stde.Laplacian()))
    # `0.5 * layer` holds a coefficient leaf that a bare Laplacian layer lacks.
    with pytest.raises(ValueError, match="the file has 5 leaves, `like` has 4"):
        models.load(path, like=like)
    loaded = models.load(path, like=(like[0], 0.25 * models.OperatorLayer(stde.Laplacian())))
    assert tree_allclose(loaded, tree, rtol=0, atol=0)


def test_truncated_file(tmp_path, getkey):
    path = tmp_path / "m.eqx"
    models.save(path, models.MLP(3, 8, 2, key=getkey()))
    data = path.read_bytes()
    path.write_bytes(data[:-10])
    with pytest.raises(ValueError, match=r"m\.eqx.*truncated"):
        models.load(path)
    path.write_bytes(data[: data.index(b"\n") // 2])
    with pytest.raises(ValueError, match=r"m\.eqx.*not a stde-zoo model file"):
        models.load(path)


def test_wrong_hash(tmp_path, getkey):
    path = tmp_path / "m.eqx"
    models.save(path, models.MLP(3, 8, 2, key=getkey()))
    data = bytearray(path.read_bytes())
    data[-5] ^= 0xFF  # flip bits inside the last array
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"m\.eqx.*sha256 does not match"):
        models.load(path)


def test_foreign_files(tmp_path, getkey):
    path = tmp_path / "foreign.eqx"
    eqx.tree_serialise_leaves(path, models.MLP(3, 8, 2, key=getkey()))
    with pytest.raises(ValueError, match=r"foreign\.eqx.*not a stde-zoo model file"):
        models.load(path)
    path.write_text(json.dumps({"hello": 1}) + "\n")
    with pytest.raises(ValueError, match=r"foreign\.eqx.*not a stde-zoo model file"):
        models.read_header(path)
    path.write_bytes(b"")
    with pytest.raises(ValueError, match="not a stde-zoo model file"):
        models.load(path)


def test_mismatched_skeleton(tmp_path, getkey):
    path = tmp_path / "m.eqx"
    models.save(path, models.MLP(3, 8, 2, key=getkey()))
    with pytest.raises(ValueError, match=r"holds a `MLP`.*`like` is a `SharedMLP`"):
        models.load(path, like=models.SharedMLP(4, 2, 8, 2, key=getkey()))
    with pytest.raises(
        ValueError, match=r"leaf 0: file has shape \(8, 3\) float64, `like` has \(8, 5\)"
    ):
        models.load(path, like=models.MLP(5, 8, 2, key=getkey()))
    with pytest.raises(ValueError, match=r"file has 4 leaves, `like` has 6"):
        models.load(path, like=models.MLP(3, 8, 3, key=getkey()))


def test_newer_format_and_bad_metadata(tmp_path, getkey):
    path = tmp_path / "m.eqx"
    model = models.MLP(3, 8, 2, key=getkey())
    with pytest.raises(ValueError, match="`metadata` must be JSON-serialisable"):
        models.save(path, model, metadata={"array": jnp.ones(2)})
    assert not path.exists() and list(tmp_path.iterdir()) == []
    models.save(path, model)
    line, payload = path.read_bytes().split(b"\n", 1)
    header = json.loads(line)
    header["format_version"] = 99
    path.write_bytes(json.dumps(header).encode() + b"\n" + payload)
    with pytest.raises(ValueError, match="format version 99"):
        models.load(path)
