"""zoo: configs, presets, the trainer (resume, determinism, non-finite loss, Ctrl-C),
checkpoints, streamed evaluation, loading and fine-tuning.

Every training test uses the same tiny configuration, so the module-level jitted step
compiles once for the whole file.
"""

import json
import math
import shutil

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import models
import pdes
import stde
import zoo
from zoo import _evaluate

# Under `-n N --dist loadgroup` the modules that train tiny runs (test_api_overrides, test_cli,
# test_hardening, test_reliability, test_trainer_loop, test_zoo) run on one worker: each
# module-scoped run is built once, and equal training configurations share a compilation.
pytestmark = pytest.mark.xdist_group("tiny-runs")

DIM = 4
MODEL = zoo.ModelConfig(width=8, depth=2)
# Eight steps: the step configuration (and so the compiled loop) of test_hardening's fault
# runs and test_reliability's resumed runs, which run on the same worker (xdist group).
CONFIG = zoo.TrainConfig(
    steps=8,
    batch=8,
    num_samples=2,
    log_every=2,
    eval_every=4,
    checkpoint_every=3,
    n_test=64,
    eval_batch=32,
)
PRESET = "allen-cahn-twobody"


def _train(out=None, **kwargs):
    kwargs.setdefault("config", CONFIG)
    return zoo.train(PRESET, DIM, model=MODEL, out=out, progress=False, plots=False, **kwargs)


def _leaves(model):
    return [np.asarray(x) for x in jax.tree_util.tree_leaves(eqx.filter(model, eqx.is_array))]


def _same(a, b) -> bool:
    la, lb = _leaves(a), _leaves(b)
    return len(la) == len(lb) and all(np.array_equal(x, y) for x, y in zip(la, lb))


def _losses(run_dir):
    return [(r["step"], r["loss"], r.get("rel_l2")) for r in zoo.read_metrics(run_dir)]


@pytest.fixture(scope="module")
def full_run(tmp_path_factory):
    """One uninterrupted 8-step run, written to disk with plots."""
    out = tmp_path_factory.mktemp("zoo") / "full"
    solver = zoo.train(PRESET, DIM, config=CONFIG, model=MODEL, out=out, progress=False)
    return out, solver


# --- configuration and presets ------------------------------------------------------


def test_config_roundtrip_and_validation():
    cfg = zoo.RunConfig(
        preset=PRESET,
        pde=zoo.PDESpec(PRESET, 8, 3, {"sampling": "radius"}),
        model=MODEL,
        train=CONFIG,
    )
    again = zoo.RunConfig.from_dict(json.loads(cfg.to_json()))
    assert again == cfg
    assert hash(again) == hash(cfg)
    with pytest.raises(ValueError, match="`TrainConfig.steps` must be an int >= 1"):
        zoo.TrainConfig(steps=0)
    with pytest.raises(ValueError, match="`TrainConfig.init_bias_points` must be an int >= 1"):
        zoo.TrainConfig(init_bias_points=0)
    with pytest.raises(ValueError, match="`TrainConfig.jacobian_chunk` must be an int >= 1"):
        zoo.TrainConfig(jacobian_chunk=0)
    with pytest.raises(ValueError, match="`TrainConfig.lr` must be a positive finite"):
        zoo.TrainConfig(lr=-1.0)
    with pytest.raises(ValueError, match="unknown fields \\['stepz'\\]"):
        zoo.TrainConfig.from_dict({"stepz": 3})
    with pytest.raises(ValueError, match="`ModelConfig.scale` must be None or a positive"):
        zoo.ModelConfig(network="window-mlp", scale=-1.0)
    with pytest.raises(ValueError, match="`ModelConfig.window` must be an int >= 1"):
        zoo.ModelConfig(network="window-mlp", window=0)
    window = zoo.ModelConfig(network="window-mlp", window=3, features=2, scale=4.0)
    assert zoo.ModelConfig.from_dict(json.loads(json.dumps(window.to_dict()))) == window
    import jaxtyping

    with pytest.raises(jaxtyping.TypeCheckError, match="radial"):
        zoo.ModelConfig(radial=1)
    with pytest.raises(ValueError, match="(?s)`model` config .*'radial'"):
        zoo.ModelConfig.from_dict({"radial": 1})  # a config.json's field


def test_radial_config_puts_the_term_beside_the_network(getkey):
    # `ModelConfig(radial=True)`: the same network inside `models.WithRadial`, one more
    # parameter (a, from 0), the same function at the start, and a run's files rebuild it.
    pde = zoo.get_preset("poisson-twobody").run_config(6).pde.build()
    plain = zoo.build_model(pde, zoo.ModelConfig(depth=1), key=getkey())
    key = getkey()
    model = zoo.build_model(pde, zoo.ModelConfig(depth=1, radial=True), key=key)
    assert isinstance(model.net, models.WithRadial) and model.net.weight == 0.0
    count = lambda m: sum(x.size for x in jax.tree.leaves(eqx.filter(m, eqx.is_array)))
    assert count(model) == count(plain) + 1 == 8
    again = zoo.build_model(pde, zoo.ModelConfig(depth=1), key=key)
    x = 0.3 * jax.random.normal(getkey(), (6,))
    assert model(x) == again(x)


def test_radial_run_trains_the_term_and_loads(tmp_path):
    # A short run with the radial term: a moves (it is trained with the rest), and the
    # run directory loads to the same model (the config rebuilds the `WithRadial`).
    out = tmp_path / "radial"
    model = zoo.ModelConfig(width=8, depth=2, radial=True)
    solver = zoo.train(PRESET, DIM, config=CONFIG, model=model, out=out, progress=False)
    assert isinstance(solver.model.net, models.WithRadial)
    assert solver.model.net.weight != 0.0
    loaded = zoo.load(out)
    assert loaded.config.model.radial and _same(loaded.model, solver.model)


def test_norm_input_config_puts_the_squared_norm_in_front(getkey, tmp_path):
    # `ModelConfig(norm_input=True)`: the network sees [x, t, |x|^2 / d] (time not in the
    # norm), its first layer one input wider; a short run's directory rebuilds it.
    pde = pdes.get("heat-parabolic", dim=3)
    small = zoo.ModelConfig(width=8, depth=2, norm_input=True)
    model = zoo.build_model(pde, small, key=getkey())
    emb = model.net.embedding
    assert isinstance(emb, models.SquaredNorm) and (emb.in_size, emb.num_coords) == (4, 3)
    assert model.net.net.in_size == 5
    out = tmp_path / "norm"
    config = zoo.TrainConfig(steps=3, batch=8, eval_every=3, n_test=16, checkpoint_every=3)
    solver = zoo.train(
        "heat-parabolic", 3, config=config, model=small, out=out, progress=False, plots=False
    )
    loaded = zoo.load(out)
    assert loaded.config.model.norm_input and _same(loaded.model, solver.model)
    with pytest.raises(ValueError, match='norm_input` needs network "mlp"'):
        zoo.ModelConfig(network="window-mlp", norm_input=True)
    with pytest.raises(ValueError, match="not for periodic PDEs"):
        zoo.build_model(pdes.get("kdv-1d"), zoo.ModelConfig(norm_input=True), key=getkey())


def test_window_network_inputs_are_scaled_to_unit_size(getkey):
    # A coordinate of the unit ball's points (radius ~ U[0, 1], direction uniform) has
    # E x_j^2 = E r^2 / d = 1 / (3 d): the default scale is ~ sqrt(3 d).
    pde = zoo.get_preset("poisson-twobody").run_config(100).pde.build()
    auto = zoo.build_model(pde, zoo.ModelConfig(network="window-mlp", window=3), key=getkey())
    assert auto.net.scale == pytest.approx(math.sqrt(300), rel=0.05)
    given = zoo.ModelConfig(network="window-mlp", window=3, width=8, depth=2, scale=2.0)
    net = zoo.build_model(pde, given, key=getkey()).net
    assert (net.scale, net.window, net.width, net.depth) == (2.0, 3, 8, 2)


def test_presets_cover_the_catalogue():
    assert set(zoo.names()) == set(pdes.names())
    for name in zoo.pretrained_names():
        preset, dim = name.rsplit("-d", 1)
        assert preset in zoo.names() and int(dim) >= 1
    with pytest.raises(ValueError, match="Unknown preset 'allen-cahn-twobdy'.*Did you mean"):
        zoo.get_preset("allen-cahn-twobdy")
    with pytest.raises(ValueError, match="`dim` must be an int >= 2"):
        zoo.get_preset(PRESET).run_config(1)
    with pytest.raises(ValueError, match="dimension 1 only"):
        zoo.get_preset("kdv-1d").run_config(3)


def test_build_model_uses_the_recommended_ansatz(getkey):
    pde = pdes.get("heat-parabolic", dim=3)
    model = zoo.build_model(pde, MODEL, key=getkey())
    x = jnp.array([0.3, -0.2, 0.5, 0.0])  # t = 0: the initial condition holds exactly
    assert jnp.allclose(model(x), pde.initial_condition(x[:3]))
    assert model.ansatz == pde.ansatz
    ball = zoo.build_model(pdes.get(PRESET, dim=DIM), MODEL, key=getkey())
    on_sphere = jnp.array([1.0, 0.0, 0.0, 0.0], jnp.float32)
    assert ball(on_sphere) == 0
    # Periodic space: the network sees x through a periodic embedding, inside the ansatz.
    kdv = pdes.get("kdv-1d")
    periodic = zoo.build_model(kdv, MODEL, key=getkey())
    assert isinstance(periodic.net, models.Embedded) and periodic.ansatz == kdv.ansatz
    y = jnp.array([-0.3, 0.4], jnp.float32)
    assert jnp.allclose(periodic(y), periodic(y.at[0].add(2.0)), atol=1e-6)


def test_published_table():
    row = zoo.published("allen-cahn-twobody", 1000)
    assert row["rel_l2"] == pytest.approx(7.07e-4) and row["its_per_s"] == pytest.approx(1559.36)
    assert zoo.published("allen-cahn-twobody", 7) is None


# --- the trainer ---------------------------------------------------------------------


def test_run_directory_contents(full_run):
    out, solver = full_run
    for name in (
        "config.json",
        "metrics.jsonl",
        "checkpoint.eqx",
        "summary.json",
        "curves.png",
        "slice.png",
    ):
        assert (out / name).is_file(), name
    records = zoo.read_metrics(out)
    assert [r["step"] for r in records] == list(range(2, 9, 2))
    assert all(math.isfinite(r["loss"]) and r["its_per_s"] > 0 for r in records[1:])
    evals = [r for r in records if "rel_l2" in r]
    assert [r["step"] for r in evals] == [4, 8]
    assert 0 < evals[-1]["trivial_rel_l2"] and evals[-1]["n_points"] == CONFIG.n_test
    card = json.loads((out / "summary.json").read_text())
    assert card["rel_l2"] == evals[-1]["rel_l2"] == solver.card["rel_l2"]
    assert card["rel_l2_min"] == min(r["rel_l2"] for r in evals)
    header = zoo._checkpoint.models.read_header(out / "checkpoint.eqx")["metadata"]
    assert header["step"] == 8 and header["pde"]["seed"] == 0
    assert header["train"] == CONFIG.to_dict() and header["rng"]["position"] == 8


def test_resume_equals_uninterrupted(full_run, tmp_path):
    out, solver = full_run
    part = tmp_path / "part"
    stopped = _train(part, until=7)
    assert stopped.card["step"] == 7 and not (part / "summary.json").exists()
    resumed = zoo.resume(part, progress=False, plots=False)
    assert _losses(part) == _losses(out)  # bitwise: floats compared with ==
    assert _same(resumed.model, solver.model)
    assert resumed.card["rel_l2"] == solver.card["rel_l2"]


def test_ctrl_c_saves_a_checkpoint_and_resumes_exactly(full_run, tmp_path):
    out, solver = full_run
    part = tmp_path / "interrupted"

    def interrupt(step, loss):
        if step == 5:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt, match="interrupted at step 5; checkpoint saved"):
        _train(part, callback=interrupt)
    assert zoo.load(part).card["step"] == 5
    resumed = zoo.resume(part, progress=False, plots=False)
    assert _losses(part) == _losses(out)
    assert _same(resumed.model, solver.model)


def test_same_seed_same_result_other_seed_differs(full_run):
    _, solver = full_run
    again = _train()
    assert _same(again.model, solver.model)
    other = _train(config=CONFIG.replace(seed=1))
    assert not _same(other.model, solver.model)


def test_out_directory_with_a_run_is_not_overwritten(full_run):
    out, _ = full_run
    with pytest.raises(ValueError, match="already holds a run: continue it with `--resume"):
        _train(out)


def test_non_finite_loss_stops_with_the_step_and_keeps_the_checkpoint(tmp_path):
    out = tmp_path / "nan"
    config = CONFIG.replace(lr=1e30, schedule="constant", checkpoint_every=1)
    message = (
        r"at step \d+; the last finite checkpoint \(step \d+\) is .*\. The likely cause is "
        r"a learning rate too large"
    )
    with pytest.raises(zoo.NonFiniteLossError, match=message):
        _train(out, config=config)
    records = zoo.read_metrics(out)
    solver = zoo.load(out)
    assert all(bool(jnp.all(jnp.isfinite(x))) for x in _leaves(solver.model))
    assert all(math.isfinite(r["loss"]) for r in records)
    # The checkpoint is the last finite state: resuming fails again at the same step.
    step = solver.card["step"]
    message = f"at step {step + 1}; the last finite checkpoint \\(step {step}\\)"
    with pytest.raises(zoo.NonFiniteLossError, match=message):
        zoo.resume(out, progress=False, plots=False)


# --- checkpoints and loading ---------------------------------------------------------


def test_load_run_directory_round_trip(full_run):
    out, solver = full_run
    loaded = zoo.load(out)
    assert _same(loaded.model, solver.model)
    assert loaded.config == solver.config and loaded.card["step"] == 8
    x = loaded.pde.sample_interior(jax.random.PRNGKey(0), 5)
    assert loaded(x).shape == (5,) and loaded(x[0]).shape == ()
    assert jnp.allclose(loaded(x), solver(x), rtol=0, atol=0)
    assert zoo.evaluate(loaded, CONFIG.n_test, batch_size=32)["rel_l2"] == solver.card["rel_l2"]
    with pytest.raises(ValueError, match=r"`x` must have shape \(4,\) or \(batch, 4\)"):
        loaded(jnp.zeros((2, 3)))


def test_damaged_checkpoint_fails_clearly(full_run, tmp_path):
    out, _ = full_run
    broken = tmp_path / "broken"
    broken.mkdir()
    for name in ("config.json", "checkpoint.eqx"):
        (broken / name).write_bytes((out / name).read_bytes())
    data = bytearray((broken / "checkpoint.eqx").read_bytes())
    data[-10] ^= 0xFF
    (broken / "checkpoint.eqx").write_bytes(bytes(data))
    with pytest.raises(ValueError, match="is damaged: the payload's sha256"):
        zoo.load(broken)
    (broken / "checkpoint.eqx").write_bytes(bytes(data[:-100]))
    with pytest.raises(ValueError, match="truncated or damaged"):
        zoo.resume(broken, progress=False)
    (broken / "config.json").write_text("{not json")
    with pytest.raises(ValueError, match="config.json` is damaged"):
        zoo.load(broken)


def test_load_names():
    with pytest.raises(ValueError, match="is a preset, not a trained solver"):
        zoo.load(PRESET)
    with pytest.raises(ValueError, match="no pretrained solver 'allen-cahn-twobody-d7'"):
        zoo.load("allen-cahn-twobody-d7")
    with pytest.raises(ValueError, match="neither a run directory nor a pretrained solver"):
        zoo.load("no-such-thing")


def test_pretrained_export_load_and_hash_check(full_run, tmp_path, monkeypatch):
    out, solver = full_run
    monkeypatch.setattr(zoo._solver, "PRETRAINED_DIR", tmp_path)
    card = zoo._solver.export_pretrained(out, "allen-cahn-twobody-d4", tmp_path)
    assert card["rel_l2"] == solver.card["rel_l2"] and card["pde"]["seed"] == 0
    assert {"trivial_rel_l2", "train_time_s", "versions", "sha256", "config"} <= set(card)
    loaded = zoo.load("allen-cahn-twobody", dim=4)
    assert _same(loaded.model, solver.model) and loaded.card["name"] == "allen-cahn-twobody-d4"
    weights = tmp_path / "allen-cahn-twobody-d4.eqx"
    weights.write_bytes(weights.read_bytes()[:-1] + b"\0")
    with pytest.raises(ValueError, match="does not match the sha256 in its model card"):
        zoo.load("allen-cahn-twobody-d4")


# --- evaluation ----------------------------------------------------------------------


def test_streamed_evaluation_matches_direct_computation(full_run):
    _, solver = full_run
    # n = CONFIG.eval_batch: the one-batch kernels are those the run already compiled.
    pde, key, n = solver.pde, jax.random.PRNGKey(7), CONFIG.eval_batch
    streamed = _evaluate.stream_errors(solver.model, pde, n=n, key=key, batch_size=7)
    # Direct: all points in one batch, then errors and the least-squares trivial fit by
    # numpy (the same jitted kernel, so only the accumulation differs).
    x, u = _evaluate._batch(solver.model, pde, key, jnp.arange(n), jnp.float32)
    outs = (u, *_evaluate._truth64(pde, x))
    u, ustar, factor, _ = (np.asarray(o, np.float64) for o in outs)
    assert np.allclose(u, jax.vmap(solver.model)(x), rtol=1e-5, atol=1e-6)
    k, *_ = np.linalg.lstsq(factor[:, None], ustar, rcond=None)
    direct_trivial = np.linalg.norm(ustar - k[0] * factor) / np.linalg.norm(ustar)
    assert streamed["rel_l2"] == pytest.approx(
        np.linalg.norm(u - ustar) / np.linalg.norm(ustar), rel=1e-12
    )
    assert streamed["trivial_rel_l2"] == pytest.approx(direct_trivial, rel=1e-6)
    assert streamed["linf"] == pytest.approx(np.max(np.abs(u - ustar)), rel=1e-12)
    # The test set does not depend on the batch size.
    whole = _evaluate.stream_errors(solver.model, pde, n=n, key=key, batch_size=n)
    assert whole["rel_l2"] == pytest.approx(streamed["rel_l2"], rel=1e-12)
    assert zoo.evaluate(solver, n, key=key, batch_size=7) == streamed


def test_the_truth_is_float64_so_float32_rounding_counts_as_error():
    # The three-body Poisson solution at d = 1000, PDE seed 3: u* is a constant times the
    # ansatz factor to 4e-6, so u* itself evaluated in float32 is off by ~5% of the
    # trivial fit. The evaluation must see that rounding, i.e. score against float64.
    pde = pdes.get("poisson-threebody", 1000, seed=3)
    key, n = jax.random.PRNGKey(0), 64
    got = _evaluate.stream_errors(pde.exact_solution, pde, n=n, key=key, dtype=jnp.float32)
    x, u = _evaluate._batch(pde.exact_solution, pde, key, jnp.arange(n), jnp.float32)
    # The truth by numpy in float64 at the same (float32) points, from the formula.
    x, u = np.asarray(x, np.float64), np.asarray(u, np.float64)
    c = np.asarray(pde.coefficients, np.float64)
    factor = 1 - np.sum(x**2, axis=1)
    ustar = factor * np.sum(c * np.exp(x[:, :-2] * x[:, 1:-1] * x[:, 2:]), axis=1)
    k = (factor @ ustar) / (factor @ factor)
    trivial = np.linalg.norm(ustar - k * factor) / np.linalg.norm(ustar)
    error = np.linalg.norm(u - ustar) / np.linalg.norm(ustar)
    # The streamed trivial fit comes from sums (u*.u* - (f.u*)^2 / f.f) that cancel to
    # ~1e-11 of themselves here, so it keeps ~5 digits in float64.
    assert got["trivial_rel_l2"] == pytest.approx(trivial, rel=1e-4)
    assert got["rel_l2"] == pytest.approx(error, rel=1e-6)
    assert error > 0.02 * trivial, (error, trivial)


# --- fine-tuning ---------------------------------------------------------------------


def test_finetune_with_freezing_changes_only_trainable_leaves(full_run):
    _, solver = full_run
    tuned = zoo.finetune(
        solver,
        "sine-gordon-twobody",
        config=CONFIG.replace(steps=5, eval_every=0),
        freeze="all-but-last",
        progress=False,
        plots=False,
    )
    assert tuned.config.freeze == "all-but-last" and tuned.pde.name == "sine-gordon-twobody"
    before, after = solver.model.net.layers, tuned.model.net.layers
    for layer_before, layer_after in zip(before[:-1], after[:-1]):
        assert _same(layer_before, layer_after)
    assert not np.array_equal(before[-1].weight, after[-1].weight)
    assert not np.array_equal(before[-1].bias, after[-1].bias)
    assert "rel_l2" in tuned.card


def test_finetune_reset_starts_from_a_zero_output_layer(full_run):
    _, solver = full_run
    config = CONFIG.replace(steps=1, eval_every=0)
    tuned = zoo.finetune(solver, config=config, reset="last", progress=False, plots=False)
    assert tuned.config.init_from.endswith("output layer reset")
    hidden_before, hidden_after = solver.model.net.layers[:-1], tuned.model.net.layers[:-1]
    # One Adam step from a zero output layer: the output layer moved by at most ~lr per
    # entry (it started at zero), and no gradient reached the hidden layers.
    last = tuned.model.net.layers[-1]
    assert float(jnp.max(jnp.abs(last.weight))) <= 1.01 * CONFIG.lr
    for layer_before, layer_after in zip(hidden_before, hidden_after):
        assert _same(layer_before, layer_after)
    with pytest.raises(ValueError, match="`reset` must be 'none' or 'last'"):
        zoo.finetune(solver, reset="first", progress=False)


def test_finetune_from_a_reset_output_refits_the_output_bias(full_run):
    # With `init_bias="residual"` a fine-tuning run starts, as a training run does, from
    # the output bias fitted to the new PDE's residual: after `reset="last"` that is the
    # best constant output, where a zero output would leave the new amplitude to the steps.
    _, solver = full_run
    config = CONFIG.replace(steps=1, eval_every=0, lr=1e-30, init_bias="residual")
    tuned = zoo.finetune(
        solver, pde_seed=1, config=config, reset="last", progress=False, plots=False
    )
    pde = pdes.get(PRESET, dim=DIM, seed=1)
    start = models.Constrained(models.zero_last(solver.model.net), pde.ansatz)
    key = zoo._trainer.seeded_key(zoo._trainer.TRAIN_BIAS_FIT, config.seed)
    fitted = zoo._trainer.fit_output_bias(start, pde, config, key)
    bias = models.output_bias(tuned.model)
    assert float(jnp.max(jnp.abs(bias))) > 0.1  # the fit moved it from 0
    assert jnp.allclose(bias, models.output_bias(fitted), rtol=1e-5)
    # The default start keeps the zero output.
    config = config.replace(init_bias="default")
    tuned = zoo.finetune(
        solver, pde_seed=1, config=config, reset="last", progress=False, plots=False
    )
    assert float(jnp.max(jnp.abs(models.output_bias(tuned.model)))) < 1e-20


@pytest.mark.parametrize("optimizer", ["adam", "natural-gradient"])
def test_finetune_head_steps_train_the_output_layer_alone_first(full_run, tmp_path, optimizer):
    # `head_steps`: a first phase with only the output layer trainable, then every layer;
    # stopped between the phases and resumed from disk, the second phase trains them all.
    _, solver = full_run
    config = CONFIG.replace(steps=6, eval_every=0, checkpoint_every=0, optimizer=optimizer)
    out = tmp_path / "ft"
    head = zoo.finetune(
        solver, config=config, reset="last", head_steps=3, until=3, out=out, progress=False
    )
    assert head.config.warmup_freeze == "all-but-last" and head.config.train.warmup.steps == 3
    before, after = solver.model.net.layers, head.model.net.layers
    for layer_before, layer_after in zip(before[:-1], after[:-1]):
        assert _same(layer_before, layer_after)
    assert float(jnp.max(jnp.abs(after[-1].weight))) > 0  # from zero
    tuned = zoo.resume(out, progress=False)
    for layer_head, layer_tuned in zip(after[:-1], tuned.model.net.layers[:-1]):
        assert not _same(layer_head, layer_tuned)
    with pytest.raises(ValueError, match=r"`head_steps` \(6\) must be below"):
        zoo.finetune(solver, config=config, head_steps=6, progress=False)
    # The head phase takes the place of a config's warm-up (Adam's, here).
    phased = zoo._presets.NATURAL_GRADIENT.replace(steps=4, batch=8, eval_every=0)
    tuned = zoo.finetune(solver, config=phased, head_steps=2, progress=False, plots=False)
    assert tuned.config.train.warmup == phased.replace(warmup=None, steps=2)
    with pytest.raises(ValueError, match="`head_steps` must be an int >= 0"):
        zoo.finetune(solver, config=config, head_steps=-1, progress=False)
    with pytest.raises(ValueError, match="needs a warm-up phase"):
        head.config.replace(train=config)


def test_finetune_warmup_freeze_freezes_the_configs_own_warm_up(full_run):
    # `warmup_freeze`: the config's own warm-up (here 2 Adam steps) with the output layer
    # alone, then the natural gradient on every layer.
    _, solver = full_run
    phased = zoo._presets.NATURAL_GRADIENT.replace(
        steps=4, batch=8, eval_every=0, warmup=CONFIG.replace(steps=2, eval_every=0)
    )
    kwargs = dict(config=phased, reset="last", progress=False, plots=False)
    warm = zoo.finetune(solver, warmup_freeze="all-but-last", until=2, **kwargs)
    before = solver.model.net.layers
    assert all(_same(a, b) for a, b in zip(before[:-1], warm.model.net.layers[:-1]))
    assert float(jnp.max(jnp.abs(warm.model.net.layers[-1].weight))) > 0  # from zero
    assert warm.config.train.warmup == phased.warmup  # its own, not the main phase's
    tuned = zoo.finetune(solver, warmup_freeze="all-but-last", **kwargs)
    assert not any(_same(a, b) for a, b in zip(before[:-1], tuned.model.net.layers[:-1]))
    assert (tuned.config.freeze, tuned.config.warmup_freeze) == ("none", "all-but-last")
    with pytest.raises(ValueError, match="give one of them"):
        zoo.finetune(solver, warmup_freeze="all-but-last", head_steps=2, **kwargs)
    with pytest.raises(ValueError, match="needs a warm-up phase"):
        zoo.finetune(solver, config=CONFIG, warmup_freeze="all-but-last", progress=False)
    with pytest.raises(ValueError, match="warmup_freeze"):
        zoo.finetune(solver, warmup_freeze="middle", **kwargs)


def test_finetune_rejects_a_different_input_size(full_run):
    _, solver = full_run
    with pytest.raises(ValueError, match="input dimension 6, but the solver takes 4"):
        zoo.finetune(solver, pdes.get(PRESET, dim=6), progress=False)
    with pytest.raises(ValueError, match="`freeze` must be one of"):
        zoo.finetune(solver, freeze="middle", progress=False)


def test_finetune_moves_a_window_network_to_another_dimension(tmp_path):
    # The shared MLP carries over with the input scale multiplied by the ratio of the
    # coordinates' root mean squares (the ball presets draw the radius ~ U[0, 1], so
    # E|x|^2 = 1/3 and the ratio is sqrt(D / d), the closed form, to the sampling's
    # accuracy); the readouts are new; the run directory reloads the resized network.
    window = zoo.ModelConfig(network="window-mlp", window=3, width=8, depth=3, scale=2.0)
    config = CONFIG.replace(steps=2, eval_every=0, checkpoint_every=0)
    kwargs = dict(config=config, progress=False, plots=False)
    solver = zoo.train("allen-cahn-threebody", 6, model=window, **kwargs)
    out = tmp_path / "d10"
    tuned = zoo.finetune(
        solver, dim=10, pde_seed=2, reset="last", freeze="all-but-last", out=out, **kwargs
    )
    assert (tuned.pde.dim, tuned.pde.seed, tuned.model.net.in_size) == (10, 2, 10)
    assert tuned.config.model.scale == pytest.approx(2.0 * math.sqrt(10 / 6), rel=0.03)
    assert tuned.model.net.scale == tuned.config.model.scale
    assert not (tuned.model.net.centred or tuned.config.model.centred)
    for before, after in zip(solver.model.net.layers, tuned.model.net.layers):
        assert _same(before, after)  # frozen: still the source's
    x = jax.random.uniform(jax.random.PRNGKey(4), (3, 10), minval=-0.3, maxval=0.3)
    np.testing.assert_array_equal(np.asarray(zoo.load(out)(x)), np.asarray(tuned(x)))
    with pytest.raises(ValueError, match="pass `reset='last'`"):
        zoo.finetune(solver, dim=10, **kwargs)
    with pytest.raises(ValueError, match="only a window network"):
        zoo.finetune(_train(config=config), dim=6, reset="last", **kwargs)
    with pytest.raises(ValueError, match="`dim` is only for a preset name"):
        zoo.finetune(solver, pdes.get("allen-cahn-threebody", dim=10), dim=10, **kwargs)


def test_fit_readouts_recovers_readouts_that_solve_the_pde(getkey):
    # Known answer: a PDE whose solution is the source's shared MLP at another dimension
    # with readouts of our choosing, u* = (1 - |x|^2) (b + sum_i a_i g(x_i, x_{i+1})).
    # The field is linear in the readouts, so Poisson's least-squares fit is one
    # Gauss-Newton step; Allen-Cahn's (nonlinear) takes a few from zero.
    window = zoo.ModelConfig(network="window-mlp", window=2, width=8, depth=3, scale=2.0)
    config = CONFIG.replace(steps=2, eval_every=0, checkpoint_every=0)
    source = zoo.train("poisson-twobody", 5, model=window, config=config, progress=False)
    net = source.model.net.resized(9, scale=2.0)
    dtype = net.readout.weight.dtype
    normal = lambda shape: jax.random.normal(getkey(), shape, dtype)  # noqa: E731
    biases = [0.5 * normal(layer.bias.shape) for layer in net.layers]
    net = eqx.tree_at(lambda n: [layer.bias for layer in n.layers], net, biases)
    readout = (normal((1, 8)), jnp.array([0.7], dtype))
    net = eqx.tree_at(lambda n: (n.readout.weight, n.readout.bias), net, readout)
    source = eqx.tree_at(lambda s: s.model.net.layers, source, net.layers)
    truth = models.Constrained(net, stde.BallAnsatz())
    x = pdes.get("poisson-twobody", dim=9).sample_interior(getkey(), 256)
    for nonlinearity, steps in ((None, 1), (lambda u, grad: u - u**3, 3)):
        pde = pdes.CustomPDE(9, stde.Laplacian(), nonlinearity=nonlinearity, exact_solution=truth)
        tuned = zoo.fit_readouts(source, pde, steps=steps, n_test=256, progress=False, plots=False)
        # Moved with the scale kept (the truth's), centred; 16 >= 1.5 x 9 parameters.
        assert tuned.model.net.centred and tuned.config.model.centred
        assert tuned.model.net.scale == tuned.config.model.scale == 2.0
        assert tuned.config.train.batch == 16 and tuned.config.freeze == "all-but-last"
        train = tuned.config.train
        assert (train.init_bias, train.init_bias_points) == ("residual", 1024)
        rel = jnp.linalg.norm(tuned(x) - jax.vmap(truth)(x)) / jnp.linalg.norm(jax.vmap(truth)(x))
        assert rel < 1e-4, (steps, rel)
    with pytest.raises(ValueError, match="`points_per_parameter` must be a number > 1"):
        zoo.fit_readouts(source, pde, points_per_parameter=1.0)


def test_finetune_readout_steps_fit_the_readouts_first(getkey):
    # Known answer as above, at the source's own dimension: the first `readout_steps` are
    # the readouts' Gauss-Newton fit on the output layer alone (one step recovers them for
    # Poisson), then the config's natural-gradient steps move every layer.
    window = zoo.ModelConfig(network="window-mlp", window=2, width=8, depth=3, scale=2.0)
    config = CONFIG.replace(steps=2, eval_every=0, checkpoint_every=0)
    source = zoo.train("poisson-twobody", 9, model=window, config=config, progress=False)
    net = source.model.net
    dtype = net.readout.weight.dtype
    readout = (jax.random.normal(getkey(), (1, 8), dtype), jnp.array([0.7], dtype))
    truth = models.Constrained(
        eqx.tree_at(lambda n: (n.readout.weight, n.readout.bias), net, readout),
        stde.BallAnsatz(),
    )
    pde = pdes.CustomPDE(9, stde.Laplacian(), exact_solution=truth)
    x = pdes.get("poisson-twobody", dim=9).sample_interior(getkey(), 256)
    main = zoo._presets.NATURAL_GRADIENT.replace(
        steps=3, batch=8, eval_every=0, warmup=None, jacobian_chunk=4
    )
    kwargs = dict(config=main, reset="last", progress=False, plots=False)
    fitted = zoo.finetune(source, pde, readout_steps=1, until=1, **kwargs)
    assert all(_same(a, b) for a, b in zip(net.layers, fitted.model.net.layers))
    ref = jax.vmap(truth)(x)
    assert jnp.linalg.norm(fitted(x) - ref) / jnp.linalg.norm(ref) < 1e-4
    warm = fitted.config.train.warmup  # `fit_readouts`' settings: 16 >= 1.5 x 9 points
    assert (warm.steps, warm.batch, warm.optimizer, warm.lr, warm.momentum) == (
        1,
        16,
        "natural-gradient",
        1.0,
        0.0,
    )
    assert (fitted.config.freeze, fitted.config.warmup_freeze) == ("none", "all-but-last")
    # On the run's config (here its Jacobian chunks), with the run's cadence.
    assert (warm.jacobian_chunk, warm.eval_every) == (4, main.eval_every)
    tuned = zoo.finetune(source, pde, readout_steps=1, **kwargs)
    assert not any(_same(a, b) for a, b in zip(net.layers, tuned.model.net.layers))
    for bad, match in (
        (dict(readout_steps=3), r"`readout_steps` \(3\) must be below"),
        (dict(readout_steps=-1), "`readout_steps` must be an int >= 0"),
        (dict(readout_steps=1, head_steps=1), "give one of them"),
        (dict(readout_steps=1, warmup_freeze="all-but-last"), "give one of them"),
    ):
        with pytest.raises(ValueError, match=match):
            zoo.finetune(source, pde, **bad, **kwargs)


@pytest.mark.slow
def test_float64_unbiased_loss_runs():
    config = CONFIG.replace(steps=3, precision="float64", loss="unbiased", eval_every=0, n_test=16)
    solver = _train(config=config)
    assert solver.dtype == jnp.float64
    assert math.isfinite(solver.card["final_loss"]) and "rel_l2" in solver.card


def test_error_curve_uses_the_point_error_where_there_is_no_rel_l2():
    from zoo._plots import error_series

    domain = [{"step": 1, "loss": 1.0}, {"step": 2, "loss": 0.5, "rel_l2": 0.1}]
    point = [{"step": 1, "loss": 1.0}, {"step": 2, "loss": 0.5, "rel_error": 2e-3}]
    assert error_series(domain)[0] == [(2, 0.1)]
    evals, label, ylabel = error_series(point)
    assert evals == [(2, 2e-3)] and "u_ref" in label and "reference point" in ylabel
    assert error_series([{"step": 1, "loss": 1.0}])[0] == []


@pytest.mark.parametrize("points, drawn", [(None, 200), (7, 7), (45, 60)])
def test_residual_bias_init_minimises_the_residual_over_the_bias(points, drawn):
    """Poisson's residual is affine in the output bias, so Gauss-Newton lands on the
    least-squares bias over the fit's points: checked against the closed form
    b* = b0 - sum(r0 g) / sum(g^2), g = dr/db, computed here by finite differences.
    `init_bias_points`: by default ten batches; fewer than a batch in one chunk; more,
    rounded up to whole batches (45 -> 60 with batches of 20)."""
    import models
    from zoo._trainer import fit_output_bias, make_estimator, sample

    pde = pdes.get("poisson-threebody", dim=6)
    net = zoo.build_model(pde, MODEL, key=jax.random.key(0))
    config = zoo.TrainConfig(batch=20, estimator="exact", init_bias_points=points)
    key = jax.random.key(1)
    fitted = fit_output_bias(net, pde, config, key)
    x = sample(pde, jax.random.split(key)[0], drawn, jnp.float32)  # the fit's points

    @jax.jit
    def residuals(bias):
        m = eqx.tree_at(models.output_bias, net, bias)
        est = make_estimator(config)
        return jax.vmap(lambda y: pde.residual(m, y, estimator=est, key=None))(x).reshape(-1)

    b0 = models.output_bias(net)
    r0 = residuals(b0)
    g = residuals(b0 + 1.0) - r0  # exact for an affine residual, up to rounding
    best = b0 - jnp.sum(r0 * g) / jnp.sum(g * g)
    b1 = models.output_bias(fitted)
    assert jnp.allclose(b1, best, rtol=1e-3, atol=1e-3), (b1, best)
    assert jnp.mean(residuals(b1) ** 2) < jnp.mean(r0**2)
    # Only the output bias moved.
    same = eqx.tree_at(models.output_bias, fitted, b0)
    assert all(jnp.array_equal(a, b) for a, b in zip(jax.tree.leaves(same), jax.tree.leaves(net)))


def test_three_body_presets_start_from_the_residual_bias():
    assert zoo.get_preset("allen-cahn-threebody").train.init_bias == "residual"
    assert zoo.get_preset("allen-cahn-twobody").train.init_bias == "default"
    # The two-body best recipe fits the bias from d = 20 (the window network's natural
    # gradient below d = 1000, its readouts' fit to 10 000, an affine network above), where u*'s
    # constant grows like sqrt(d); below, the dense network's Adam warm-up starts from the
    # default.
    twobody = zoo.get_preset("poisson-twobody")
    for dim in (20, 100, 999, 1000, 10_000, 10_001, 100_001):
        assert twobody.recipe("best", dim)[1].init_bias == "residual"
    assert twobody.recipe("best", 19)[1].init_bias == "default"
    assert zoo.get_preset("hjb-lqg").recipe("best", 1000)[1].init_bias == "default"
    import jaxtyping

    with pytest.raises(jaxtyping.TypeCheckError, match="init_bias"):
        zoo.TrainConfig(init_bias="zero")


def test_three_body_best_recipe_by_dimension():
    # A window network over triples with natural-gradient steps up to d = 128 (measured
    # at d = 100); to d = 1000 that network learned at d = 100, 50 natural-gradient steps
    # on its readouts alone (the warm-up), then 100 on every layer; the preset's Adam
    # from the fitted bias above.
    for name in ("allen-cahn-threebody", "poisson-threebody", "sine-gordon-threebody"):
        preset = zoo.get_preset(name)
        for dim in (10, 100, 128, 129, 1000):
            model, train = preset.recipe("best", dim)
            assert (model.network, model.window, train.optimizer) == (
                "window-mlp",
                3,
                "natural-gradient",
            )
            assert model == preset.recipe("best", 100)[0]
            net = zoo.build_model(pdes.get(name, dim=dim), model, key=jax.random.PRNGKey(0))
            n_params = sum(x.size for x in jax.tree.leaves(eqx.filter(net, eqx.is_array)))
            assert train.batch <= 0.9 * n_params and train.batch % 8 == 0
            assert (train.estimator, train.init_bias) == ("exact", "residual")
            if dim <= 128:
                assert (train.steps, train.warmup, train.source_dim) == (600, None, None)
                continue
            assert (train.steps, train.damping, train.source_dim) == (150, 1e-3, 100)
            # The warm-up (output layer alone: `source_freezes`) is the same steps, 50.
            assert train.warmup == train.replace(steps=50, warmup=None, source_dim=None)
        assert preset.recipe("best", 1001) == (zoo.ModelConfig(), preset.train)


def test_radial_parabolic_best_recipe_sees_the_squared_norm():
    # Heat and Sine-Gordon (radial g, u = v(|x|^2, t)): |x|^2 / d as an input with the
    # natural gradient up to d = 128, the protocol's network and Adam above; Allen-Cahn's g
    # is not radial and keeps its own recipe.
    for name in ("heat-parabolic", "sine-gordon-parabolic"):
        preset = zoo.get_preset(name)
        for dim in (10, 100, 128):
            model, train = preset.recipe("best", dim)
            assert model == zoo.ModelConfig(norm_input=True)
            assert (train.optimizer, train.estimator) == ("natural-gradient", "exact")
        assert preset.recipe("best", 129) == (zoo.ModelConfig(), zoo.TrainConfig())
    assert not zoo.get_preset("allen-cahn-parabolic").recipe("best", 100)[0].norm_input


def test_wide_best_recipe_by_dimension():
    # The window network's natural gradient on 200 points a step from its constant start
    # up to d = 128; up to d = 1000 the same network learned at d = 100, its readouts
    # fitted by 3 Gauss-Newton steps (the warm-up, output layer alone), then the same
    # natural-gradient steps on every layer; the dense network's Adam above.
    for name in ("allen-cahn-twobody-wide", "poisson-twobody-wide", "sine-gordon-twobody-wide"):
        preset = zoo.get_preset(name)
        for dim in (10, 100, 128, 129, 1000):
            model, train = preset.recipe("best", dim)
            assert (model.network, model.window, model.width, model.depth) == (
                "window-mlp",
                2,
                16,
                4,
            )
            assert (train.optimizer, train.estimator) == ("natural-gradient", "exact")
            assert (train.batch, train.damping, train.momentum) == (200, 1e-2, 0.9)
            if dim <= 128:
                assert (train.steps, train.warmup, train.source_dim) == (600, None, None)
                continue
            assert (train.steps, train.source_dim, train.init_bias) == (300, 100, "residual")
            assert preset.recipe("best", 100)[0] == model
            fit = train.warmup  # 1.5 points per readout (d - 1 windows and the bias)
            assert (fit.optimizer, fit.estimator, fit.steps) == ("natural-gradient", "exact", 3)
            assert fit.batch == 16 * math.ceil(1.5 * dim / 16) and fit.momentum == 0
        model, train = preset.recipe("best", 1001)
        assert (model, train) == (zoo.ModelConfig(), preset.train)


def test_two_body_best_recipe_by_dimension():
    # Dense one-hidden-layer natural gradient below d = 20, the window network's natural
    # gradient with the exact Laplacian below d = 1000; from d = 1000 to 10 000
    # the d = 100 recipe's window network as the source and 3 Gauss-Newton steps on its
    # d readouts (d - 1 windows and the bias) with 1.5 points per readout; above, an
    # affine network to d = 1e5 and Adam beyond.
    for name in ("allen-cahn-twobody", "poisson-twobody", "sine-gordon-twobody"):
        preset = zoo.get_preset(name)
        model, train = preset.recipe("best", 19)
        assert (model.network, model.depth, train.optimizer) == ("mlp", 2, "natural-gradient")
        for dim in (20, 100, 128, 129, 999):
            model, train = preset.recipe("best", dim)
            assert (model.network, model.window) == ("window-mlp", 2)
            # Fewer points a step than the network's parameters (the steps stall above).
            net = zoo.build_model(pdes.get(name, dim=dim), model, key=jax.random.PRNGKey(0))
            n_params = sum(x.size for x in jax.tree.leaves(eqx.filter(net, eqx.is_array)))
            assert train.batch <= 0.9 * n_params and train.batch % 8 == 0
            assert (train.optimizer, train.estimator, train.warmup) == (
                "natural-gradient",
                "exact",
                None,
            )
            # Up to d = 128 more damping (1e-4 stalls or diverges some instances there).
            assert (train.steps, train.damping) == (300, 1e-3 if dim <= 128 else 1e-4)
        source_model, _ = preset.recipe("best", 100)
        for dim in (1000, 4096, 10_000):
            model, train = preset.recipe("best", dim)
            assert model == source_model and train.source_dim == 100
            how = (train.optimizer, train.estimator, train.steps)
            assert how == ("natural-gradient", "exact", 3)
            assert train.batch == 16 * math.ceil(1.5 * dim / 16) and train.momentum == 0
        # Above: an affine network (depth 1) with a radial term, matrix-free Gauss-Newton
        # on the residuals and their gradients (the exact operator), 32 steps of 16
        # points, each averaged in at the harmonic rate; up to 1e6 and beyond.
        for dim in (10_001, 100_000, 1_000_000):
            model, train = preset.recipe("best", dim)
            assert (model.network, model.depth, model.radial) == ("mlp", 1, True)
            assert train.source_dim is None and train.warmup is None
            how = (train.optimizer, train.estimator, train.batch, train.steps, train.lr)
            assert how == ("gauss-newton", "exact", 16, 32, 1.0)
            assert train.schedule == "harmonic" and train.residual_gradient == 1.0
            assert train.init_bias == "residual"


@pytest.mark.slow  # ~25 s: the source is the preset's real recipe (named in .ci/run)
def test_train_with_a_source_dimension_fits_the_readouts_of_a_source(tmp_path):
    # `TrainConfig.source_dim`: the preset's best recipe at d = 20 into out/source, then
    # the readouts fitted at d = 24 (the two-body best recipe between d = 1000 and
    # 10 000, in small). The shared MLP is the source's, moved with its input scale and
    # centred; the fit ends well below the trivial fit on a PDE seed the source's recipe
    # was never tuned on.
    window = zoo.ModelConfig(network="window-mlp", window=2, width=16, depth=4, scale=5.0)
    config = zoo.TrainConfig(**zoo._config.readout_settings(24), source_dim=20, n_test=512)
    out = tmp_path / "run"
    kwargs = dict(model=window, pde_seed=7, progress=False, plots=False)
    # A source stopped part way (as by Ctrl-C) is resumed, not trained over.
    recipe = zoo.get_preset("poisson-twobody").recipe("best", 20)[1]
    zoo.train("poisson-twobody", 20, config=recipe, out=out / "source", until=100, **kwargs)
    first = zoo.read_metrics(out / "source")
    # Stopped after the first of the fit's steps (the source finished), then resumed.
    stopped = zoo.train("poisson-twobody", 24, config=config, out=out, until=1, **kwargs)
    records = zoo.read_metrics(out / "source")
    assert records[: len(first)] == first and records[-1]["step"] == recipe.steps
    assert stopped.card["step"] == 1 and (out / "source" / "summary.json").is_file()
    solver = zoo.resume(out, progress=False, plots=False)
    assert solver.card["steps"] == 3
    source = zoo.load(out / "source")
    assert source.pde.dim == 20 and source.pde.seed == 7
    assert source.config.train == zoo.get_preset("poisson-twobody").recipe("best", 20)[1]
    net, source_net = solver.model.net, source.model.net
    assert net.in_size == 24 and net.centred and net.scale == source_net.scale == 5.0
    assert all(_same(a, b) for a, b in zip(net.layers, source_net.layers))
    saved = solver.config
    assert saved.freeze == "all-but-last" and saved.train.source_dim == 20
    assert str(out / "source") in saved.init_from
    # What the table and pretrained scripts expect such a run to have written.
    run = zoo.get_preset("poisson-twobody").run_config(24, pde_seed=7, train=config, model=window)
    assert saved.replace(init_from=None) == zoo._presets.written_config(run)
    assert solver.card["rel_l2"] < 0.01 * solver.card["trivial_rel_l2"], solver.card
    # The solver's cost is both runs': the summary carries the source's time.
    source_time = json.loads((out / "source" / "summary.json").read_text())["train_time_s"]
    assert solver.card["source_train_time_s"] == source_time > 0
    assert json.loads((out / "summary.json").read_text())["source_train_time_s"] == source_time
    assert _same(zoo.load(out).model, solver.model)
    # The finished source is reused by a second run; a finished run is not trained over.
    stamp = (out / "source" / "checkpoint.eqx").stat().st_mtime_ns
    again = zoo.train("poisson-twobody", 24, config=config, out=tmp_path / "again", **kwargs)
    assert (out / "source" / "checkpoint.eqx").stat().st_mtime_ns == stamp
    with pytest.raises(ValueError, match="already holds a run"):
        zoo.train("poisson-twobody", 24, config=config, out=out, **kwargs)
    del again
    # A source of another PDE instance (left by a stopped run) is refused, not reused.
    other = tmp_path / "other"
    shutil.copytree(out / "source", other / "source")
    with pytest.raises(ValueError, match="holds a source of poisson-twobody d=20 PDE seed 7"):
        zoo.train("poisson-twobody", 24, config=config, out=other, **dict(kwargs, pde_seed=8))
    for problem, model, cfg, match in (
        (pdes.get("poisson-twobody", dim=24), window, config, "needs a preset"),
        ("poisson-twobody", zoo.ModelConfig(), config, "moves a window network"),
        ("poisson-twobody", window, config.replace(source_dim=24), "must differ"),
    ):
        with pytest.raises(ValueError, match=match):
            dims = {} if isinstance(problem, pdes.AbstractPDE) else {"dim": 24}
            zoo.train(problem, **dims, model=model, config=cfg, progress=False, plots=False)
    # With a warm-up, the warm-up is the readouts' fit and the rest trains every layer
    # (the wide presets' recipe at d = 1000, in small): the finished source is reused.
    staged = tmp_path / "staged"
    shutil.copytree(out / "source", staged / "source")
    steps = zoo._presets.NATURAL_GRADIENT.replace(warmup=None, steps=5, batch=64, n_test=512)
    staged_config = steps.replace(
        warmup=config.replace(source_dim=None),
        source_dim=20,
        init_bias="residual",
        init_bias_points=1024,
    )
    run_args = dict(config=staged_config, out=staged, **kwargs)
    fitted = zoo.train("poisson-twobody", 24, until=3, **run_args)  # the warm-up alone
    assert all(_same(a, b) for a, b in zip(fitted.model.net.layers[:-1], source_net.layers[:-1]))
    tuned = zoo.resume(staged, progress=False, plots=False)
    hidden = zip(tuned.model.net.layers[:-1], source_net.layers[:-1])
    assert not any(_same(a, b) for a, b in hidden)
    assert (tuned.config.freeze, tuned.config.warmup_freeze) == ("none", "all-but-last")
    run = run.replace(train=staged_config)
    assert tuned.config.replace(init_from=None) == zoo._presets.written_config(run)
    assert tuned.card["rel_l2"] < 0.01 * tuned.card["trivial_rel_l2"], tuned.card
    with pytest.raises(ValueError, match="`TrainConfig.source_dim` must be an int >= 1"):
        zoo.TrainConfig(source_dim=0)
    with pytest.raises(ValueError, match="warmup.source_dim` must be None"):
        zoo.TrainConfig(steps=5, warmup=zoo.TrainConfig(steps=2, source_dim=3))
