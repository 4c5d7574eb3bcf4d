"""The training loop: `train`, `resume`, `finetune`.

Determinism (docs/reliability.md): step `k`'s collocation points and estimator keys come from
`fold_in(fold_in(PRNGKey(seed), 1), k)`, a pure function of the step, and the checkpoint
holds the exact parameters and optimiser state, so a run resumed from step `k` computes
bit for bit what the uninterrupted run computes after step `k` on the same machine.

Numbering: the update that produces step `s` (1-based) evaluates the loss on the
parameters of step `s - 1`; `metrics.jsonl` records that loss as step `s`, and the
errors at step `s` are those of the parameters after `s` updates.

Data parallelism (`TrainConfig.devices`, `zoo/_distributed.py`): the step runs over a
one-axis device mesh, the full batch sharded over it, parameters replicated; the same
code path for one device.
"""

import functools
import math
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from tqdm.auto import tqdm

import models
import pdes

from . import _checkpoint as ckpt, _distributed as dist
from ._config import FREEZES, ModelConfig, PDESpec, RunConfig, TrainConfig
from ._evaluate import point_errors, sample, stream_errors
from ._optim import make_optimizer, params_of
from ._presets import (
    Preset,
    build_model,
    dtype_of,
    get_preset,
    make_estimator,
    point_reference,
    unwrap_ansatz,
    wrap_ansatz,
)
from ._published import published
from ._solver import Solver, load, skeleton


class NonFiniteLossError(RuntimeError):
    """The training loss became NaN or infinite; the message names the step and the last
    finite checkpoint."""


def _keys(seed: int):
    base = jax.random.PRNGKey(seed)
    return jax.random.fold_in(base, 0), jax.random.fold_in(base, 1)


def fit_output_bias(model, pde, config: TrainConfig, key, dtype=jnp.float32, iters: int = 5):
    """`model` with its output bias set by Gauss-Newton on the mean squared residual of
    `pde` over `10 * config.batch` points drawn with `key` (`TrainConfig.init_bias`)."""
    n = 10 * config.batch
    kx, kr = jax.random.split(key)
    x = sample(pde, kx, n, dtype)
    keys = jax.random.split(kr, n)
    estimator = make_estimator(config)

    def residual(bias):
        m = eqx.tree_at(models.output_bias, model, bias)
        r = jax.vmap(lambda y, k: pde.residual(m, y, estimator=estimator, key=k))(x, keys)
        return r.reshape(-1)

    @jax.jit
    def newton(bias):
        r, jr = jax.jvp(residual, (bias,), (jnp.ones_like(bias),))
        return bias - jnp.sum(r * jr) / jnp.sum(jr * jr)

    bias = models.output_bias(model)
    for _ in range(iters):
        bias = newton(bias)
    return eqx.tree_at(models.output_bias, model, bias)


def _loss_fn(params, static, pde, key, config: TrainConfig, dtype, mesh):
    model = eqx.combine(params, static)
    estimator = make_estimator(config)
    batch = config.batch

    def residuals(x, key):
        # The full set of keys, then sharded: the same stream on any number of devices.
        keys = dist.shard_batch(jax.random.split(key, batch), mesh)
        r = jax.vmap(lambda y, k: pde.residual(model, y, estimator=estimator, key=k))(x, keys)
        # (batch,) or (batch, m) for vector residuals (gradient-enhanced KdV).
        return r.reshape(batch, -1)

    kx, k1, k2 = jax.random.split(key, 3)
    x = dist.shard_batch(sample(pde, kx, batch, dtype), mesh)
    r1 = residuals(x, k1)
    if config.loss == "unbiased" and config.estimator != "exact":
        # E[r1 r2] = (E r)^2 for independent estimates, whereas E[r^2] adds the
        # estimator's variance. With `Exact()` both estimates coincide: one pass.
        prod = r1 * residuals(x, k2)
    else:
        prod = r1**2
    return jnp.mean(jnp.sum(prod, axis=-1))


@eqx.filter_jit
def _step(model, opt_state, pde, data_key, index, config: TrainConfig, freeze: str, dtype, mesh):
    # Module-level and keyed on hashable configuration (the mesh included), so runs with
    # the same configuration in one process (a resume, a test suite) share one compilation.
    key = jax.random.fold_in(data_key, index)
    params, static = eqx.partition(model, eqx.is_inexact_array)
    loss, grads = jax.value_and_grad(_loss_fn)(params, static, pde, key, config, dtype, mesh)
    optimizer = make_optimizer(config, model, freeze)
    updates, opt_state = optimizer.update(grads, opt_state, params)
    # optax.apply_updates keeps each parameter's dtype (the schedule may be float64).
    params = optax.apply_updates(params, updates)
    params, opt_state = dist.replicate_constraint((params, opt_state), mesh)
    # A finite loss with a non-finite gradient would poison the parameters silently.
    finite = jnp.all(jnp.stack([jnp.all(jnp.isfinite(p)) for p in jax.tree.leaves(params)]))
    return eqx.combine(params, static), opt_state, loss, finite


def _step_config(config: TrainConfig) -> TrainConfig:
    """`config` with the fields that do not enter the step normalised (fewer compiles)."""
    return config.replace(
        seed=0,
        log_every=1,
        eval_every=0,
        checkpoint_every=0,
        n_test=1,
        eval_batch=None,
        test_seed=0,
        devices=None,  # The mesh is passed on its own.
        rollbacks=0,
        rollback_factor=0.5,
    )


def make_step(config: TrainConfig, freeze: str = "none") -> Callable:
    """The jitted training step `(model, opt_state, pde, data_key, step) -> (model,
    opt_state, loss, finite)`; the loss is evaluated before the update, on the collocation
    points and estimator keys of `fold_in(data_key, step)`; `finite` says whether every
    updated parameter is finite.

    The step runs data-parallel over `config.devices` devices (`zoo._distributed`); the
    returned model and state are replicated over them.

    **Raises:** `ValueError` if there are too few devices or `config.batch` does not
    divide by their number.
    """
    step_config, dtype = _step_config(config), dtype_of(config)
    mesh = dist.make_mesh(config.devices, config.batch)

    def step(model, opt_state, pde, data_key, index):
        # Several processes: every input must be a global array (replicated here);
        # `replicate` is a no-op on arrays that already are.
        if jax.process_count() > 1:
            model, opt_state, pde, data_key = dist.replicate(
                (model, opt_state, pde, data_key), mesh
            )
            index = np.int32(index)
        return _step(model, opt_state, pde, data_key, index, step_config, freeze, dtype, mesh)

    return step


class RollbackWarning(UserWarning):
    """The loss became non-finite and the run went back to its last checkpoint with a
    smaller learning rate (`TrainConfig.rollbacks`)."""


class CheckpointWriteWarning(UserWarning):
    """A run file could not be written; the run went on in a rescue directory (or, if
    that failed too, in memory). The message names both places and the error."""


class _Run:
    """A run in progress: configuration, PDE, state, and where it is written.

    Every write goes through `write`: if the run directory refuses it (read-only, full,
    removed), the whole run (config, metrics so far, a checkpoint of the current state)
    moves to a fresh rescue directory and carries on there; if that fails too, the run
    carries on in memory and the Python API still returns the final solver. Each move is
    reported as a `CheckpointWriteWarning`.
    """

    def __init__(self, config, pde, model, optimizer, opt_state, step, run_dir, elapsed=0.0):
        self.config, self.pde = config, pde
        self.model, self.optimizer, self.opt_state = model, optimizer, opt_state
        self.step, self.run_dir, self.elapsed = step, run_dir, elapsed
        self.checkpoint_step = None
        self.last_checkpoint = None  # (model, opt_state, step): the rollback target.
        self.log = ckpt.MetricsLog(run_dir)
        self.rescued = False  # Moved to a rescue directory.
        self.moved = False  # Moved at all (rescue directory or memory).

    @property
    def name(self) -> str:
        return self.config.preset or getattr(self.pde, "name", "pde")

    def write(self, action: Callable[[], object]) -> None:
        """Run `action` (which writes under `self.run_dir`, or only in memory when that
        is None); on `OSError`, move the run elsewhere and run it again there."""
        while True:
            try:
                action()
                return
            except OSError as e:
                if self.run_dir is None:
                    raise
                self._move(e)

    def _move(self, error: OSError) -> None:
        failed, reason = self.run_dir, error.strerror or str(error)
        self.moved = True
        if not self.rescued:
            rescue = None
            try:
                rescue = Path(tempfile.mkdtemp(prefix=f"stde-zoo-rescue-{self.name}-"))
                self.run_dir, self.log.path = rescue, rescue / ckpt.METRICS
                ckpt.write_config(rescue, self.config)
                self.log.rewrite()
                self._save()
                self.rescued = True
                warnings.warn(
                    f"cannot write to `{failed}` ({reason}) at step {self.step}; the run "
                    f"continues in `{rescue}` (everything so far is there: resume from it "
                    "or copy it back).",
                    CheckpointWriteWarning,
                    stacklevel=4,
                )
                return
            except OSError as e:
                failed, reason = rescue or tempfile.gettempdir(), e.strerror or str(e)
        self.run_dir, self.log.path = None, None
        warnings.warn(
            f"cannot write to `{failed}` ({reason}) at step {self.step}; training continues "
            "in memory only: nothing more is written, and the returned solver holds the "
            "final state (save it with `solver.save`).",
            CheckpointWriteWarning,
            stacklevel=4,
        )

    def _save(self):
        if self.run_dir is not None:
            ckpt.save_checkpoint(
                self.run_dir,
                dist.localize(self.model),
                dist.localize(self.opt_state),
                step=self.step,
                config=self.config,
                elapsed_s=self.elapsed,
            )

    def save(self):
        self.write(self._save)
        self.checkpoint_step = self.step
        self.last_checkpoint = (self.model, self.opt_state, self.step)

    def solver(self, card=None) -> Solver:
        model = dist.localize(self.model)
        card = card or {"step": self.step}
        if self.moved:  # Where the run ended up: the CLI reports it.
            card["run_dir"] = None if self.run_dir is None else str(self.run_dir)
        return Solver(model, self.pde, self.config, card)


def _prepare_dir(out, overwrite: bool) -> Path | None:
    if out is None:
        return None
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"`out`: `{out}` exists and is not a directory.")
    if ckpt.is_run_dir(out) and not overwrite:
        raise ValueError(
            f"`{out}` already holds a run: continue it with `--resume {out}` "
            "(`zoo.resume`), or choose another output directory."
        )
    out.mkdir(parents=True, exist_ok=True)
    if overwrite:
        for name in (ckpt.METRICS, ckpt.CHECKPOINT, ckpt.SUMMARY):
            (out / name).unlink(missing_ok=True)
    return out


def _evaluate(run: _Run, cache: dict) -> dict:
    cfg = run.config
    dtype = dtype_of(cfg.train)
    if cfg.evaluation == "point":
        if "reference" not in cache:
            cache["reference"] = point_reference(run.pde)
        return point_errors(dist.localize(run.model), run.pde, cache["reference"], dtype)
    if cache.get("no_reference"):
        return {}
    key = jax.random.PRNGKey(cfg.train.test_seed)
    try:
        return stream_errors(
            dist.localize(run.model),
            run.pde,
            n=cfg.train.n_test,
            key=key,
            batch_size=cfg.train.eval_batch,
            dtype=dtype,
        )
    except NotImplementedError:
        # A user PDE without a known solution: train, but report no errors.
        cache["no_reference"] = True
        return {}


def _fmt(x) -> str:
    return "-" if x is None else f"{x:.3g}"


def _loop(
    run: _Run,
    *,
    progress: bool,
    until: int | None,
    callback: Callable | None,
    plots: bool,
) -> Solver:
    if until is not None and (isinstance(until, bool) or not isinstance(until, int) or until < 1):
        raise ValueError(f"`until` must be a positive int or None, got {until!r}.")
    cfg = run.config.train
    total = cfg.steps
    stop = total if until is None else min(until, total)
    _, data_key = _keys(cfg.seed)
    step_fn = make_step(cfg, run.config.freeze)
    if jax.process_index() != 0:
        run.run_dir = run.log.path = None  # Process 0 alone writes the run directory.
    if run.run_dir is not None:
        run.write(lambda: run.log.truncate(run.step))
    if run.checkpoint_step is None:
        run.save()
    else:  # Resumed: the state in hand is the checkpoint's.
        run.last_checkpoint = (run.model, run.opt_state, run.step)
    cache: dict = {}
    window_steps, window_time = 0, 0.0
    compile_s = None
    last_eval: dict = {}
    bar = tqdm(
        total=total,
        initial=run.step,
        disable=not progress,
        desc=run.name,
        dynamic_ncols=True,
        mininterval=0.5,
        leave=True,
    )
    try:
        while run.step < stop:
            s = run.step + 1
            t0 = time.perf_counter()
            model, opt_state, loss, finite = step_fn(
                run.model, run.opt_state, run.pde, data_key, jnp.asarray(run.step, jnp.int32)
            )
            loss = float(loss)
            dt = time.perf_counter() - t0
            if not (math.isfinite(loss) and bool(finite)):
                what = (
                    f"the loss is {loss}"
                    if not math.isfinite(loss)
                    else ("the parameters became non-finite")
                )
                if run.config.train.rollbacks > 0:
                    _rollback(run, s, what)
                    step_fn = make_step(run.config.train, run.config.freeze)
                    bar.reset(total)
                    bar.update(run.step)
                    continue
                where = (
                    f"the last finite checkpoint (step {run.checkpoint_step}) is "
                    f"`{run.run_dir / ckpt.CHECKPOINT}`"
                    if run.run_dir is not None
                    else "no run directory was given, so nothing was saved"
                )
                raise NonFiniteLossError(
                    f"training stopped: {what} at step {s}; {where}. The likely cause is "
                    "a learning rate too large for the scale of this loss (or a float32 "
                    "overflow): try a smaller `lr`, `precision='float64'`, or `rollbacks=N` "
                    "(restart from the last checkpoint with a smaller learning rate)."
                )
            run.model, run.opt_state, run.step = model, opt_state, s
            run.elapsed += dt
            if compile_s is None:
                compile_s = dt  # The first call of this session compiles.
            else:
                window_steps += 1
                window_time += dt
            bar.update(1)
            evaluate_now = s == total or (cfg.eval_every and s % cfg.eval_every == 0)
            if evaluate_now or s % cfg.log_every == 0:
                record = {"step": s, "loss": loss}
                if window_steps:
                    rate = window_steps / window_time
                    record["its_per_s"] = rate
                window_steps, window_time = 0, 0.0
                if evaluate_now:
                    t1 = time.perf_counter()
                    last_eval = _evaluate(run, cache)
                    record.update(last_eval)
                    record["eval_s"] = time.perf_counter() - t1
                run.write(functools.partial(run.log.append, record))
                error = last_eval.get("rel_l2", last_eval.get("rel_error"))
                bar.set_postfix_str(f"loss={loss:.3g} rel_l2={_fmt(error)}")
            if s == stop or (cfg.checkpoint_every and s % cfg.checkpoint_every == 0):
                run.save()
            if callback is not None:
                callback(s, loss)
    except KeyboardInterrupt:
        bar.close()
        run.save()
        where = f"; checkpoint saved in `{run.run_dir}`" if run.run_dir is not None else ""
        raise KeyboardInterrupt(f"interrupted at step {run.step}{where}.") from None
    bar.close()
    if run.step < total:
        return run.solver()
    card = _summary(run, run.log.records, compile_s)

    def finish():
        if run.run_dir is not None:
            ckpt.write_json_atomic(run.run_dir / ckpt.SUMMARY, card)

    run.write(finish)
    if plots and run.run_dir is not None:
        from ._plots import write_plots

        run.write(lambda: write_plots(run.run_dir, run.solver(card), run.log.records, card))
    return run.solver(card)


def _rollback(run: _Run, s: int, what: str) -> None:
    """Back to the last checkpoint, with the learning rate times `rollback_factor`."""
    train = run.config.train
    model, opt_state, step = run.last_checkpoint
    lr = train.lr * train.rollback_factor
    run.config = run.config.replace(train=train.replace(lr=lr, rollbacks=train.rollbacks - 1))
    run.model, run.opt_state, run.step = model, opt_state, step
    warnings.warn(
        f"{what} at step {s}: back to the checkpoint of step {step} with lr {lr:.3g} "
        f"({run.config.train.rollbacks} rollbacks left).",
        RollbackWarning,
        stacklevel=3,
    )

    def record():
        run.log.truncate(step)
        run.log.append({"step": step, "event": "rollback", "diverged_at": s, "lr": lr})
        if run.run_dir is not None:
            ckpt.write_config(run.run_dir, run.config)

    run.write(record)


def _summary(run: _Run, records: list[dict], compile_s) -> dict:
    cfg = run.config
    final = records[-1] if records else {}
    rates = [r["its_per_s"] for r in records if "its_per_s" in r]
    evals = [r["rel_l2"] for r in records if "rel_l2" in r]
    pub = None
    if cfg.pde is not None and cfg.train.estimator == "sparse":
        pub = published(cfg.pde.name, cfg.pde.dim, f"stde{cfg.train.num_samples}")
    card = {
        "preset": cfg.preset,
        "pde": None if cfg.pde is None else cfg.pde.to_dict(),
        "model": cfg.model.to_dict(),
        "steps": run.step,
        "final_loss": final.get("loss"),
        "train_time_s": run.elapsed,
        "its_per_s": statistics.median(rates) if rates else None,
        "compile_s": compile_s,
        "published_rel_l2": None if pub is None else pub["rel_l2"],
        "versions": ckpt.versions(),
    }
    for k in (
        "rel_l2",
        "trivial_rel_l2",
        "linf",
        "rel_linf",
        "n_points",
        "u_reference_point",
        "reference_value",
        "rel_error",
    ):
        if k in final:
            card[k] = final[k]
    if evals:
        card["rel_l2_min"] = min(evals)
    return card


def _check_progress_args(progress, plots):
    for name, value in (("progress", progress), ("plots", plots)):
        if not isinstance(value, bool):
            raise ValueError(f"`{name}` must be a bool, got {value!r}.")


def train(
    problem: "str | Preset | pdes.AbstractPDE",
    dim: int | None = None,
    *,
    config: TrainConfig | None = None,
    model: ModelConfig | None = None,
    pde_seed: int = 0,
    out: str | Path | None = None,
    overwrite: bool = False,
    progress: bool = True,
    plots: bool = True,
    until: int | None = None,
    callback: Callable | None = None,
) -> Solver:
    """Train a solver for a preset (or your own PDE) and return it.

    **Arguments:**

    - `problem`: a preset name (`zoo.names()`), a `zoo.Preset`, or a `pdes` PDE instance
      (then `dim` and `pde_seed` are ignored; a `pdes.CustomPDE` cannot be resumed from
      disk).
    - `dim`: the dimension; default the preset's.
    - `config`: a `zoo.TrainConfig`; default the preset's (the published protocol).
    - `model`: a `zoo.ModelConfig`; default the preset's (4 x 128 tanh MLP).
    - `pde_seed`: seed of the PDE's random coefficients.
    - `out`: a run directory for `config.json`, `metrics.jsonl`, `checkpoint.eqx`,
      `summary.json` and plots; None keeps everything in memory.
    - `overwrite`: replace a run already in `out` (otherwise an error).
    - `progress`: show a progress bar; `plots`: write PNG plots at the end.
    - `until`: stop after this many steps (checkpointed; continue with `zoo.resume`).
    - `callback`: called as `callback(step, loss)` after every step.

    **Returns:** a `zoo.Solver`; its `card` holds the final errors beside the trivial fit
    and the published figure (when the run finished).

    **Raises:** `ValueError` for an unknown preset or bad dimension;
    `zoo.NonFiniteLossError` if the loss becomes non-finite; `KeyboardInterrupt` (after
    saving a checkpoint) on Ctrl-C.
    """
    _check_progress_args(progress, plots)
    dist.maybe_initialize()  # Multi-host from `STDE_*` variables; before any device use.
    if jax.process_index() != 0:
        out = None  # Process 0 alone writes the run directory.
    if isinstance(problem, pdes.AbstractPDE):
        pde = problem
        try:
            spec = PDESpec.from_pde(pde)
        except ValueError:
            spec = None  # e.g. CustomPDE: runs in memory, not rebuildable from disk.
        run_config = RunConfig(
            preset=None,
            pde=spec,
            model=model or ModelConfig(),
            train=config or TrainConfig(),
        )
    else:
        preset = get_preset(problem)
        run_config = preset.run_config(dim, pde_seed=pde_seed, train=config, model=model)
        pde = run_config.pde.build()
    dtype = dtype_of(run_config.train)
    run_dir = _prepare_dir(out, overwrite)
    init_key, _ = _keys(run_config.train.seed)
    net = build_model(pde, run_config.model, key=init_key, dtype=dtype)
    if run_config.train.init_bias == "residual":
        net = fit_output_bias(net, pde, run_config.train, jax.random.fold_in(init_key, 1), dtype)
    optimizer = make_optimizer(run_config.train, net, run_config.freeze)
    run = _Run(run_config, pde, net, optimizer, optimizer.init(params_of(net)), 0, run_dir)
    if run_dir is not None:
        ckpt.write_config(run_dir, run_config)
    return _loop(run, progress=progress, until=until, callback=callback, plots=plots)


def resume(
    run_dir: str | Path,
    *,
    steps: int | None = None,
    pde: "pdes.AbstractPDE | None" = None,
    progress: bool = True,
    plots: bool = True,
    until: int | None = None,
    callback: Callable | None = None,
) -> Solver:
    """Continue the run in `run_dir` from its checkpoint, exactly as if uninterrupted.

    **Arguments:** `run_dir`; `steps`, a new total number of steps (the learning-rate
    schedule then follows the new total, so the trajectory differs from an uninterrupted
    run of the old total); `pde`, for runs of a user-defined PDE; the rest as `train`.

    **Raises:** `ValueError` if `run_dir` is not a run or its checkpoint is damaged.
    """
    _check_progress_args(progress, plots)
    dist.maybe_initialize()
    run_dir = Path(run_dir)
    config = ckpt.read_config(run_dir)
    if steps is not None and steps != config.train.steps:
        config = config.replace(train=config.train.replace(steps=steps))
        if jax.process_index() == 0:
            ckpt.write_config(run_dir, config)
    pde, model, optimizer, opt_state = skeleton(config, pde)
    model, opt_state, step = ckpt.load_checkpoint(run_dir, model, opt_state)
    if step >= config.train.steps and (run_dir / ckpt.SUMMARY).is_file():
        return load(run_dir, pde=pde)  # Finished: nothing to do.
    header = ckpt.models.read_header(run_dir / ckpt.CHECKPOINT)
    elapsed = float(header["metadata"].get("elapsed_s", 0.0))
    run = _Run(config, pde, model, optimizer, opt_state, step, run_dir, elapsed)
    run.checkpoint_step = step
    return _loop(run, progress=progress, until=until, callback=callback, plots=plots)


def finetune(
    solver: Solver,
    pde: "str | pdes.AbstractPDE | None" = None,
    *,
    config: TrainConfig | None = None,
    freeze: str = "none",
    reset: str = "none",
    pde_seed: int | None = None,
    out: str | Path | None = None,
    overwrite: bool = False,
    progress: bool = True,
    plots: bool = True,
    until: int | None = None,
    callback: Callable | None = None,
) -> Solver:
    """Fine-tune `solver` on `pde` (default: its own PDE), optionally freezing layers.

    The network inside the solver's ansatz is re-wrapped in the new PDE's recommended
    ansatz, so a solver trained on one ball PDE fine-tunes on another.

    **Arguments:**

    - `solver`: the starting point (`zoo.load(...)` or `zoo.train(...)`).
    - `pde`: a PDE instance, a preset name (at the solver's dimension), or None.
    - `config`: the `TrainConfig` of the fine-tuning run; default the solver's, with its
      `steps`.
    - `freeze`: `"none"`, `"first"`, `"last"`, `"all-but-first"` or `"all-but-last"`
      (linear layers, in order of application); frozen leaves are untouched, through
      `optax.multi_transform` and `models.freeze_labels`.
    - `reset`: `"none"`, or `"last"` to start with the output layer set to zero
      (`models.zero_last`): the network keeps its features but not its old output, for a
      new PDE whose solution has another amplitude.
    - `pde_seed`: the seed when `pde` is a preset name; default the solver's PDE seed.
    - the rest as `zoo.train`.

    **Raises:** `ValueError` if the new PDE's input dimension differs from the solver's.
    """
    _check_progress_args(progress, plots)
    dist.maybe_initialize()
    if jax.process_index() != 0:
        out = None
    if not isinstance(solver, Solver):
        raise ValueError(f"`solver` must be a `zoo.Solver`, got {type(solver).__name__}.")
    if freeze not in FREEZES:
        raise ValueError(f"`freeze` must be one of {list(FREEZES)}, got {freeze!r}.")
    if reset not in ("none", "last"):
        raise ValueError(f"`reset` must be 'none' or 'last', got {reset!r}.")
    base = solver.config
    old_seed = solver.pde.seed
    if pde is None:
        pde = solver.pde
    elif isinstance(pde, str):
        seed = old_seed if pde_seed is None else pde_seed
        pde = get_preset(pde).run_config(solver.pde.dim, pde_seed=seed).pde.build()
    if not isinstance(pde, pdes.AbstractPDE):
        raise ValueError(f"`pde` must be a `pdes` PDE or a preset name, got {pde!r}.")
    if pde.input_dim != solver.input_dim:
        raise ValueError(
            f"`pde` has input dimension {pde.input_dim}, but the solver takes "
            f"{solver.input_dim}: fine-tuning needs the same input size."
        )
    if config is None:
        config = base.train if base is not None else TrainConfig()
    try:
        spec = PDESpec.from_pde(pde)
    except ValueError:
        spec = None
    preset_name = spec.name if spec is not None and spec.name in _preset_names() else None
    evaluation = get_preset(preset_name).evaluation if preset_name else "field"
    run_config = RunConfig(
        preset=preset_name,
        pde=spec,
        model=base.model if base is not None else ModelConfig(),
        train=config,
        freeze=freeze,
        init_from=_describe(solver, reset),
        evaluation=evaluation,
    )
    dtype = dtype_of(config)
    net = unwrap_ansatz(solver.model)
    model = wrap_ansatz(pde.ansatz, models.zero_last(net) if reset == "last" else net)
    model = jax.tree_util.tree_map(
        lambda x: x.astype(dtype) if eqx.is_inexact_array(x) else x, model
    )
    if out is not None and spec is None:
        raise ValueError(
            "`out` needs a PDE that can be rebuilt from its config; this PDE cannot "
            "(a `pdes.CustomPDE`): pass `out=None`."
        )
    run_dir = _prepare_dir(out, overwrite)
    optimizer = make_optimizer(config, model, freeze)
    run = _Run(run_config, pde, model, optimizer, optimizer.init(params_of(model)), 0, run_dir)
    if run_dir is not None:
        ckpt.write_config(run_dir, run_config)
    return _loop(run, progress=progress, until=until, callback=callback, plots=plots)


def _preset_names():
    from ._presets import names

    return names()


def _describe(solver: Solver, reset: str = "none") -> str | None:
    name = _name_of(solver)
    if reset == "last":
        return f"{name or 'a solver'}, output layer reset"
    return name


def _name_of(solver: Solver) -> str | None:
    card = solver.card or {}
    for key in ("name", "run_dir"):
        if key in card:
            return str(card[key])
    if solver.config is not None and solver.config.pde is not None:
        return f"{solver.config.pde.name} (d={solver.config.pde.dim}, step {card.get('step')})"
    return None
