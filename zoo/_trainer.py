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

Speed: the steps between two things to do on the host (a record, an evaluation, a
checkpoint, the end of a phase) run in one jitted loop (`make_chunk`), compiled once
whatever their number and the learning rate; the host waits for the device once per
chunk.
"""

import contextlib
import copy
import functools
import math
import signal
import tempfile
import threading
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
from stde._checks import check_int

from . import _checkpoint as ckpt, _distributed as dist
from ._config import (
    FREEZES,
    ModelConfig,
    PDESpec,
    RunConfig,
    TrainConfig,
    readout_settings,
    source_freezes,
    split_overrides,
    with_cadence,
    without_bookkeeping,
)
from ._evaluate import point_errors, sample, stream_errors
from ._gauss_newton import GaussNewtonState, gauss_newton_direction
from ._keys import TRAIN_BIAS_FIT, TRAIN_DATA, TRAIN_INIT, TRAIN_PROTOCOL_INIT, seeded_key
from ._natgrad import NaturalGradientState, woodbury_direction
from ._optim import (
    init_state,
    make_optimizer,
    per_phase,
    phases,
    schedule,
    trainable_labels,
)
from ._presets import (
    Preset,
    build_model,
    coordinate_rms,
    dtype_of,
    get_preset,
    is_protocol,
    make_estimator,
    point_reference,
    protocol_init,
    resolve_model,
)
from ._published import published
from ._solver import Solver, _check_pde, check_run, load, skeleton


class NonFiniteLossError(RuntimeError):
    """The training loss became NaN or infinite; the message names the step and the last
    finite checkpoint."""


def _keys(seed: int):
    """The initialisation and data keys of training seed `seed`: label-derived streams
    (`zoo._keys`), apart from the PDE coefficients' `PRNGKey(pde_seed)` for any seeds."""
    return seeded_key(TRAIN_INIT, seed), seeded_key(TRAIN_DATA, seed)


def _start_bias(model, pde, config: TrainConfig, dtype):
    """The output bias a training or fine-tuning run starts from: fitted to `pde`'s
    residual with the seed's own key when `config.init_bias == "residual"`, else as is."""
    if config.init_bias != "residual":
        return model
    return fit_output_bias(model, pde, config, seeded_key(TRAIN_BIAS_FIT, config.seed), dtype)


def fit_output_bias(model, pde, config: TrainConfig, key, dtype=jnp.float32, iters: int = 5):
    """`model` with its output bias set by Gauss-Newton on the mean squared residual of
    `pde` over `config.init_bias_points` (default `10 * config.batch`) points drawn with
    `key` (`TrainConfig.init_bias`)."""
    n = config.init_bias_points or 10 * config.batch
    size = min(n, config.batch)  # of a chunk
    n = size * math.ceil(n / size)
    kx, kr = jax.random.split(key)
    x = sample(pde, kx, n, dtype)
    keys = jax.random.split(kr, n)
    estimator = make_estimator(config)

    # The model, PDE and points are arguments, not closed-over constants: as constants XLA
    # would fold the first layer's product with the points at compile time (seconds at
    # width 256).
    @eqx.filter_jit
    def newton(model, pde, x, keys):
        bias = models.output_bias(model)

        def sums(chunk):  # the Gauss-Newton sums over one step's worth of points
            def residual(bias):
                m = eqx.tree_at(models.output_bias, model, bias)
                r = jax.vmap(lambda y, k: pde.residual(m, y, estimator=estimator, key=k))
                return r(*chunk).reshape(-1)

            r, jr = jax.jvp(residual, (bias,), (jnp.ones_like(bias),))
            return jnp.sum(r * jr), jnp.sum(jr * jr)

        # Chunks of at most `batch` points, one after the other: the residuals need a
        # training step's memory, not ten times it. The points are still drawn at once
        # (at d = 1e6 the 1000 points are 4 GB; that run peaks at 15.6 GB against a
        # step's 3.3 GB).
        chunks = [a.reshape(n // size, size, *a.shape[1:]) for a in (x, keys)]
        num, den = (jnp.sum(t) for t in jax.lax.map(sums, chunks))
        return eqx.tree_at(models.output_bias, model, bias - num / den)

    for _ in range(iters):
        model = newton(model, pde, x, keys)
    return model


def _collocation(pde, key, config: TrainConfig, dtype, mesh):
    """The step's collocation points and two independent sets of estimator keys, each
    drawn whole and then sharded: the same stream on any number of devices."""
    kx, k1, k2 = jax.random.split(key, 3)
    x = dist.shard_batch(sample(pde, kx, config.batch, dtype), mesh)
    keys = [dist.shard_batch(jax.random.split(k, config.batch), mesh) for k in (k1, k2)]
    return x, *keys


def _unbiased(config: TrainConfig) -> bool:
    # E[r1 r2] = (E r)^2 for independent estimates, whereas E[r^2] adds the estimator's
    # variance. With `Exact()` both estimates coincide: one pass.
    return config.loss == "unbiased" and config.estimator != "exact"


def _point_residuals(pde, model, y, estimator, key, weight: float) -> jax.Array:
    """The residuals of one point as a vector: `pde.residual` (a scalar, or `m` values for
    vector residuals such as the gradient-enhanced KdV's), then, with `weight` > 0
    (`TrainConfig.residual_gradient`), `weight` times its gradient with respect to the
    point."""

    def residual(z):
        return pde.residual(model, z, estimator=estimator, key=key).reshape(-1)

    if not weight:
        return residual(y)
    if pde.residual_shape == ():
        r, grad = jax.value_and_grad(lambda z: residual(z)[0])(y)
        return jnp.concatenate([r[None], weight * grad])
    r = residual(y)
    return jnp.concatenate([r, weight * jax.jacrev(residual)(y).reshape(-1)])


def _loss_fn(params, static, pde, key, config: TrainConfig, dtype, mesh):
    model = eqx.combine(params, static)
    estimator = make_estimator(config)
    x, keys1, keys2 = _collocation(pde, key, config, dtype, mesh)
    weight = config.residual_gradient

    def residuals(keys):
        def point(y, k):
            return _point_residuals(pde, model, y, estimator, k, weight)

        return jax.vmap(point)(x, keys)  # (batch, rows of a point)

    r1 = residuals(keys1)
    r2 = residuals(keys2) if _unbiased(config) else r1
    return jnp.mean(jnp.sum(r1 * r2, axis=-1))


# Points per chunk of the per-point Jacobians on a CPU by default. A whole batch's jets
# and their cotangents outgrow the caches, and the step then streams every intermediate
# through memory; a few points at a time keeps them resident: 2-4x faster steps on two
# cores (a 256-unit network at d = 100, the window network at d = 1000; 8 to 30 points
# per chunk within noise of each other). Accelerators take the whole batch at once.
_CPU_CHUNK = 16


def _in_chunks(f, mesh, chunk, *xs):
    """`jax.vmap(f)(*xs)`, a chunk of points at a time on a CPU (`chunk` points, None:
    `_CPU_CHUNK`); one `vmap` where the chunk is the whole batch.

    A chunk interleaves the batch (point i goes to chunk i mod chunks) and holds a
    multiple of the mesh's devices, so every chunk spans the whole mesh."""
    b, ndev = xs[0].shape[0], mesh.devices.size
    cap = b if jax.default_backend() != "cpu" else max(chunk or _CPU_CHUNK, ndev)
    size = max(c for c in range(1, min(b, cap) + 1) if b % c == 0 and c % ndev == 0)
    n = b // size
    if n == 1:
        return jax.vmap(f)(*xs)
    split = lambda a: a.reshape(size, n, *a.shape[1:]).swapaxes(0, 1)  # noqa: E731
    out = jax.lax.map(lambda args: jax.vmap(f)(*args), tuple(split(a) for a in xs))
    return jax.tree.map(lambda a: a.swapaxes(0, 1).reshape(b, *a.shape[2:]), out)


def _natural_gradient_update(params, static, opt_state, pde, key, lr, config, freeze, dtype, mesh):
    """One Woodbury natural-gradient step (`zoo/_natgrad.py`): the per-point residual
    Jacobian by `jax.vjp` under `jax.vmap`, then the SPRING direction. With the unbiased
    loss the Jacobian comes from a second, independent estimate, so the step does not
    fit the estimator's noise in `r` with the same directions' derivatives."""
    estimator = make_estimator(config)
    x, keys1, keys2 = _collocation(pde, key, config, dtype, mesh)

    weight = config.residual_gradient

    def point(y, k):
        def residual(p):
            return _point_residuals(pde, eqx.combine(p, static), y, estimator, k, weight)

        if pde.residual_shape == () and not weight:
            # A gradient, not a vjp under vmap over a one-row identity: XLA's CPU code
            # for the latter's batch axis of length 1 cost 1.8x the gradient (an affine
            # network at d = 1e5).
            r, jac = jax.value_and_grad(lambda p: residual(p)[0])(params)
            return r[None], jax.tree.map(lambda j: j[None], jac)
        r, vjp = jax.vjp(residual, params)
        (jac,) = jax.vmap(vjp)(jnp.eye(r.shape[0], dtype=r.dtype))
        return r, jac

    r1, jac = _in_chunks(point, mesh, config.jacobian_chunk, x, keys1)
    r2 = r1
    if _unbiased(config):
        r2, jac = _in_chunks(point, mesh, config.jacobian_chunk, x, keys2)
    loss = jnp.mean(jnp.sum(r1 * r2, axis=-1))
    n = r1.size
    jac = jax.tree.map(lambda j: j.reshape(n, *j.shape[2:]), jac)
    if freeze != "none":  # Frozen leaves: no Jacobian columns, so no update.
        labels = trainable_labels(eqx.combine(params, static), freeze)
        jac = jax.tree.map(lambda j, t: j if t == "train" else jnp.zeros_like(j), jac, labels)
    direction = woodbury_direction(
        jac, r1.reshape(n), opt_state.direction, damping=config.damping, momentum=config.momentum
    )
    lr = schedule(config, lr)(opt_state.count)
    params = jax.tree.map(lambda p, v: p - (lr * v).astype(p.dtype), params, direction)
    return loss, params, NaturalGradientState(direction, opt_state.count + 1)


def _gauss_newton_update(params, static, opt_state, pde, key, lr, config, freeze, dtype, mesh):
    """One matrix-free Gauss-Newton step (`zoo/_gauss_newton.py`) on the batch's residual
    vector (with `residual_gradient`, each point's residual and its weighted gradient).
    One estimate of the residuals: with a random estimator the step fits its noise too."""
    estimator = make_estimator(config)
    x, keys, _ = _collocation(pde, key, config, dtype, mesh)

    def residuals(p):
        model = eqx.combine(p, static)
        point = lambda y, k: _point_residuals(  # noqa: E731
            pde, model, y, estimator, k, config.residual_gradient
        )
        return jax.vmap(point)(x, keys).reshape(-1)

    labels = None
    if freeze != "none":
        labels = trainable_labels(eqx.combine(params, static), freeze)
    direction, r = gauss_newton_direction(
        residuals, params, max_steps=config.lsmr_steps, trainable=labels
    )
    loss = jnp.sum(r * r) / config.batch
    lr = schedule(config, lr)(opt_state.count)
    params = jax.tree.map(lambda p, v: p - (lr * v).astype(p.dtype), params, direction)
    return loss, params, GaussNewtonState(opt_state.count + 1)


# The optimisers whose step is the trainer's (they need residuals, not a gradient).
_SECOND_ORDER = {
    "natural-gradient": _natural_gradient_update,
    "gauss-newton": _gauss_newton_update,
}


def _update(model, opt_state, pde, data_key, index, lr, config, freeze, dtype, mesh):
    """One step, traced: `(model, opt_state, loss, finite)` after the update of step
    `index + 1`. `lr` is the phase's peak learning rate, a traced scalar, so a rollback's
    smaller rate reuses the compiled step; `config`'s own `lr` is a placeholder."""
    if config.resample_every != 1:  # Points kept for `resample_every` steps (0: always).
        index = 0 if config.resample_every == 0 else index // config.resample_every
    key = jax.random.fold_in(data_key, index)
    params, static = eqx.partition(model, eqx.is_inexact_array)
    if config.optimizer in _SECOND_ORDER:
        loss, params, opt_state = _SECOND_ORDER[config.optimizer](
            params, static, opt_state, pde, key, lr, config, freeze, dtype, mesh
        )
    else:

        def loss_of(p):
            return _loss_fn(p, static, pde, key, config, dtype, mesh)

        loss, grads = jax.value_and_grad(loss_of)(params)
        optimizer = make_optimizer(config, model, freeze, lr)
        # The line search of L-BFGS re-evaluates this step's loss (same points and keys).
        extra = dict(value=loss, grad=grads, value_fn=loss_of)
        is_lbfgs = config.optimizer == "lbfgs" and freeze == "none"
        updates, opt_state = optimizer.update(
            grads, opt_state, params, **(extra if is_lbfgs else {})
        )
        # optax.apply_updates keeps each parameter's dtype (the schedule may be float64).
        params = optax.apply_updates(params, updates)
    params, opt_state = dist.replicate_constraint((params, opt_state), mesh)
    # A finite loss with a non-finite gradient would poison the parameters silently, and
    # an overflow in the optimiser's state (Adam's second moment) every later step.
    state = eqx.filter((params, opt_state), eqx.is_inexact_array)
    finite = jnp.all(jnp.stack([jnp.all(jnp.isfinite(p)) for p in jax.tree.leaves(state)]))
    return eqx.combine(params, static), opt_state, loss, finite


# Module-level and keyed on hashable configuration (the mesh included, the learning rate
# not), so runs with the same configuration in one process (a resume, a rollback, a test
# suite) share one compilation.
_step = eqx.filter_jit(_update)

# The most steps one dispatch of `_chunk` runs: the length of its buffer of losses.
MAX_CHUNK = 1000


@eqx.filter_jit
def _chunk(model, opt_state, pde, data_key, start, n, lr, config, freeze, dtype, mesh):
    """Steps `start + 1 .. start + n` (`n <= MAX_CHUNK`, a traced trip count: one
    compilation for every `n`) in one dispatch, without the host. The loop stops after the
    first step whose loss or updated state is not finite.

    **Returns:** `(model, opt_state, losses, done)`: `done` finite steps ran; the state
    after them if `done == n`, else the non-finite state of step `start + done + 1`
    (`make_chunk` recovers the finite one); the losses of steps `start + 1 ..` in
    `losses[:done]`, then that of the non-finite step in `losses[done]` if `done < n`.
    """
    # No buffer donation: the caller's state stays valid (it may be the rollback target).
    state, static = eqx.partition((model, opt_state), eqx.is_array)

    def cond(carry):
        i, _, _, ok = carry
        return ok & (i < n)

    def body(carry):
        i, state, losses, _ = carry
        model, opt_state = eqx.combine(state, static)
        new = _update(model, opt_state, pde, data_key, start + i, lr, config, freeze, dtype, mesh)
        model, opt_state, loss, finite = new
        ok = finite & jnp.isfinite(loss)
        # The new state whether finite or not: keeping the previous one instead (a select
        # over the whole state every step) cost ~5-10% of a step at d = 1e3. A non-finite
        # step is rare, and `make_chunk` then recomputes the finite steps.
        state = eqx.filter((model, opt_state), eqx.is_array)
        return i + ok.astype(i.dtype), state, losses.at[i].set(loss), ok

    losses = jnp.full(MAX_CHUNK, jnp.nan, dtype)
    carry = (jnp.zeros((), jnp.int32), state, losses, jnp.array(True))
    done, state, losses, _ = jax.lax.while_loop(cond, body, carry)
    model, opt_state = eqx.combine(state, static)
    return model, opt_state, losses, done


def _phased(config: TrainConfig, freeze, jitted) -> Callable:
    """`jitted` (`_step` or `_chunk`) as a function of the run's state, its first step
    index and any integer arguments after it: the phase (`TrainConfig.warmup`) is chosen on
    the host from the step index, its static configuration, frozen layers (`freeze`, or a
    pair, one per phase: `RunConfig.freezes`), mesh and learning rate passed on."""
    dtype = dtype_of(config)
    first, then = phases(config)
    freezes = per_phase(freeze)
    # One step configuration (and mesh, which checks `batch` against the devices) per
    # phase, each compiled once; the learning rate goes in as an array.
    steps = [
        (without_bookkeeping(c).replace(lr=1.0), dist.make_mesh(config.devices, c.batch), c.lr)
        for c in (first, then)
        if c is not None
    ]

    def run(model, opt_state, pde, data_key, index, *args):
        phase = 0 if then is None else int(index >= first.steps)
        step_config, mesh, lr = steps[phase]
        # A weakly typed scalar, as the Python float in the configuration was: the same
        # arithmetic (and float64 schedules keep every digit of it).
        lr = jnp.asarray(lr)
        index, *args = (np.int32(a) for a in (index, *args))
        # Every input placed as the outputs are, replicated over the mesh (`replicate` is a
        # no-op on arrays that already are): otherwise the second call, on the first's
        # outputs, would compile again; and with several processes every input must be a
        # global array.
        model, opt_state, pde, data_key, lr = dist.replicate(
            (model, opt_state, pde, data_key, lr), mesh
        )
        # Two phases: each updates its own half of the state.
        state = opt_state if then is None else opt_state[phase]
        statics = (step_config, freezes[phase], dtype, mesh)
        model, state, *out = jitted(model, state, pde, data_key, index, *args, lr, *statics)
        if then is not None:
            state = (state, opt_state[1]) if phase == 0 else (opt_state[0], state)
        return model, state, *out

    return run


def phase_end(config: TrainConfig, index: int) -> int:
    """The last step of the phase of step `index + 1` (`TrainConfig.warmup`): a chunk of
    steps (`make_chunk`) stays within one phase."""
    first, then = phases(config)
    return first.steps if then is not None and index < first.steps else config.steps


def make_step(config: TrainConfig, freeze="none") -> Callable:
    """The jitted training step `(model, opt_state, pde, data_key, step) -> (model,
    opt_state, loss, finite)`; the loss is evaluated before the update, on the collocation
    points and estimator keys of `fold_in(data_key, step)`; `finite` says whether every
    updated parameter is finite.

    The step runs data-parallel over `config.devices` devices (`zoo._distributed`); the
    returned model and state are replicated over them.

    **Raises:** `ValueError` if there are too few devices or `config.batch` does not
    divide by their number.
    """
    return _phased(config, freeze, _step)


def make_chunk(config: TrainConfig, freeze="none") -> Callable:
    """`make_step` for many steps per dispatch: `(model, opt_state, pde, data_key, start,
    n) -> (model, opt_state, losses, done)` runs steps `start + 1 .. start + n` (`n <=
    MAX_CHUNK`, all in one phase: `phase_end`) as `make_step` would one at a time, and
    stops at the first non-finite one (`_chunk`), returning the state after the last
    finite step (recomputed in that rare case). The loop body is `make_step`'s
    computation on the same keys: on the CPU the parameters agree bit for bit
    (`tests/test_trainer_loop.py`)."""
    chunk = _phased(config, freeze, _chunk)

    def run(model, opt_state, pde, data_key, start, n):
        if not 1 <= n <= min(MAX_CHUNK, phase_end(config, start) - start):
            raise ValueError(f"a chunk of {n} steps from step {start} leaves its phase.")
        out_model, out_state, losses, done = chunk(model, opt_state, pde, data_key, start, n)
        ran = int(done)
        if ran < n:  # Step `start + ran + 1` was not finite: the state before it, again.
            out_model, out_state = model, opt_state
            if ran:  # The same compiled loop on the same inputs: the same bits.
                out_model, out_state, _, _ = chunk(model, opt_state, pde, data_key, start, ran)
        return out_model, out_state, losses, done

    return run


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


def _check_out(out) -> None:
    """`out` names a directory: not empty (which would mean the current directory)."""
    if out is None:
        return
    if not isinstance(out, str | Path):
        raise ValueError(f"`out` must be a path (str or Path) or None, got {out!r}.")
    if str(out).strip() == "":
        raise ValueError(
            "`out` is empty, which would write the run into the current directory: name "
            "a directory (use `.` to mean the current one)."
        )


def _check_free(out: Path) -> None:
    # A directory with only config.json is a run that never saved a step: nothing to lose,
    # so it is trained over.
    if any((out / n).exists() for n in (ckpt.CHECKPOINT, ckpt.METRICS, ckpt.SUMMARY)):
        raise ValueError(
            f"`{out}` already holds a run: continue it with `--resume {out}` "
            "(`zoo.resume`), or choose another output directory."
        )


def _prepare_dir(out, overwrite: bool) -> Path | None:
    """Create and lock the run directory `out` (None: no directory)."""
    if out is None:
        return None
    _check_out(out)
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"`out`: `{out}` exists and is not a directory.")
    out.mkdir(parents=True, exist_ok=True)
    ckpt.lock_run_dir(out)  # Before looking at what is there: no one else is writing.
    try:
        if not overwrite:
            _check_free(out)
        ckpt.remove_temp_files(out)
        if overwrite:
            for name in ckpt.RUN_FILES:
                (out / name).unlink(missing_ok=True)
    except BaseException:
        ckpt.unlock_run_dir(out)
        raise
    return out


def _evaluate(run: _Run, cache: dict) -> dict:
    cfg = run.config
    dtype = dtype_of(cfg.train)
    if cfg.evaluation == "point":
        if "reference" not in cache:
            cache["reference"] = point_reference(run.pde)
        return point_errors(dist.localize(run.model), run.pde, cache["reference"], dtype)
    if not run.pde.has_reference_solution:
        return {}  # e.g. a user PDE without a known solution: train, report no errors.
    key = jax.random.PRNGKey(cfg.train.test_seed)
    return stream_errors(
        dist.localize(run.model),
        run.pde,
        n=cfg.train.n_test,
        key=key,
        batch_size=cfg.train.eval_batch,
        dtype=dtype,
    )


def _fmt(x) -> str:
    return "-" if x is None else f"{x:.3g}"


class Terminated(KeyboardInterrupt):
    """SIGTERM during training: handled like Ctrl-C (checkpoint saved, then raised)."""


class _Signals:
    """SIGINT and SIGTERM during a run raise `KeyboardInterrupt` / `Terminated`, except
    inside `deferred()`, whose end raises them: the run's state (model, optimiser state,
    step) never changes half-way."""

    def __init__(self):
        self.pending = None
        self.depth = 0

    def handler(self, signum, frame):
        if self.depth:
            self.pending = signum
            return
        raise self.error(signum)

    @staticmethod
    def error(signum) -> KeyboardInterrupt:
        return Terminated("terminated") if signum == signal.SIGTERM else KeyboardInterrupt()

    @contextlib.contextmanager
    def deferred(self):
        self.depth += 1
        try:
            yield
        finally:
            self.depth -= 1
            if not self.depth and self.pending is not None:
                signum, self.pending = self.pending, None
                raise self.error(signum)

    @contextlib.contextmanager
    def installed(self):
        if threading.current_thread() is not threading.main_thread():
            yield  # Signals reach the main thread only.
            return
        previous = {n: signal.getsignal(n) for n in (signal.SIGINT, signal.SIGTERM)}
        for n in previous:
            signal.signal(n, self.handler)
        try:
            yield
        finally:
            for n, h in previous.items():
                signal.signal(n, h)


def _loop(run: _Run, **kwargs) -> Solver:
    """`_run_loop` with the run directory marked as running and its lock released at the
    end, however the run ends."""
    locked = run.run_dir
    ckpt.mark_running(locked)
    try:
        return _run_loop(run, **kwargs)
    finally:
        ckpt.unlock_run_dir(locked)


def _step1_cause(run: _Run, data_key) -> str:
    """At step 1 the loss is evaluated on the initial parameters: which part of the loss
    is not finite at step 1's collocation points."""
    dtype = dtype_of(run.config.train)
    kx = jax.random.split(jax.random.fold_in(data_key, 0), 3)[0]
    try:
        x = sample(run.pde, kx, run.config.train.batch, dtype)
        if not bool(jnp.all(jnp.isfinite(x))):
            return "the PDE's sampler gave non-finite collocation points"
        model = dist.localize(run.model)
        if not bool(jnp.all(jnp.isfinite(jax.vmap(model)(x)))):
            return "the initial model's output is not finite at the collocation points"
        forcing = getattr(run.pde, "forcing", None)
        if callable(forcing):
            f = jax.vmap(forcing)(x)
            bad = int(f.size - jnp.count_nonzero(jnp.isfinite(f)))
            if bad:
                return (
                    f"the PDE's forcing is not finite at {bad} of {x.shape[0]} collocation "
                    "points: fix the forcing (or the PDE's coefficients)"
                )
    except Exception:  # The diagnosis must not hide the error it explains.
        pass
    return "a term of the PDE's residual (forcing, coefficients) is not finite there"


class _Bar(tqdm):
    """The progress bar, at the run's rate: steps over the session's training time
    without its compilations, the summary's `its_per_s`. tqdm's own rate would count the
    compilation, evaluations and checkpoints."""

    its_per_s = 0.0  # Shown as `?` until the first chunk after the compilation.

    @property
    def format_dict(self):
        return {**super().format_dict, "rate": self.its_per_s}


def _run_loop(
    run: _Run,
    *,
    progress: bool,
    until: int | None,
    callback: Callable | None,
    plots: bool,
) -> Solver:
    cfg = run.config.train  # `until` was checked by the caller (`_check_run_args`).
    total = cfg.steps
    stop = total if until is None else min(until, total)
    _, data_key = _keys(cfg.seed)
    if jax.process_index() != 0:
        run.run_dir = run.log.path = None  # Process 0 alone writes the run directory.
    if run.run_dir is not None:
        run.write(lambda: run.log.truncate(run.step))
    if run.checkpoint_step is None:
        run.save()
    else:  # Resumed: the state in hand is the checkpoint's.
        run.last_checkpoint = (run.model, run.opt_state, run.step)
    stats: dict = {"compile_s": None}
    bar = _Bar(
        total=total,
        initial=run.step,
        disable=not progress,
        desc=run.name,
        dynamic_ncols=True,
        mininterval=0.5,
        leave=True,
    )
    signals = _Signals()
    try:
        with signals.installed():
            _steps(run, signals, stop, total, cfg, data_key, bar, callback, stats)
    except KeyboardInterrupt as e:
        bar.close()
        with signals.installed(), signals.deferred():  # A second Ctrl-C waits for the save.
            run.save()
        where = f"; checkpoint saved in `{run.run_dir}`" if run.run_dir is not None else ""
        kind = Terminated if isinstance(e, Terminated) else KeyboardInterrupt
        raise kind(f"interrupted at step {run.step}{where}.") from None
    compile_s = stats["compile_s"]
    bar.close()
    if run.step < total:
        return run.solver()
    card = _summary(run, compile_s, bar.its_per_s)

    def finish():
        if run.run_dir is not None:
            ckpt.write_json_atomic(run.run_dir / ckpt.SUMMARY, card)

    run.write(finish)
    if plots and run.run_dir is not None:
        from ._plots import write_plots

        run.write(lambda: write_plots(run.run_dir, run.solver(card), run.log.records, card))
    return run.solver(card)


def _steps(run, signals, stop, total, cfg, data_key, bar, callback, stats):
    """The steps from `run.step` to `stop`, in chunks (`make_chunk`) that end at every
    step with something to do on the host: a record, an evaluation, a checkpoint, the end
    of a phase or of the run. Each chunk's record is written before its steps count
    (`run.step` moves, with the model and optimiser state, in one deferred assignment):
    an interrupt before that resumes from the chunk's start and recomputes the chunk with
    its record; no record is lost or duplicated."""
    cache: dict = {}
    window_steps, window_time = 0, 0.0
    last_eval: dict = {}
    per_step = None  # Seconds per step of the last timed chunk.
    timed_steps, timed_s = 0, 0.0  # The session's, without the compiling chunks.
    compiled = set()  # The phases compiled (run once) in this session.
    chunk_fn = None
    while run.step < stop:
        start = run.step
        if chunk_fn is None:  # Again after a rollback, for its `lr`: nothing compiles.
            chunk_fn = make_chunk(run.config.train, run.config.freezes)
        end = phase_end(run.config.train, start)
        n = _chunk_length(start, min(stop, end), cfg, per_step, callback)
        first = end not in compiled
        if first:
            # Alone, so the compilation's time is measured apart from the steps'.
            n, compiled = 1, compiled | {end}
            bar.set_postfix_str("compiling")
        t0 = time.perf_counter()
        model, opt_state, losses, done = chunk_fn(
            run.model, run.opt_state, run.pde, data_key, start, n
        )
        done = int(done)  # The chunk's one wait for the device.
        losses = np.asarray(losses).tolist()  # The whole buffer: no slicing kernel.
        dt = time.perf_counter() - t0
        ran = min(done + 1, n)  # The non-finite step, if any, was computed too.
        if first:
            stats["compile_s"] = (stats["compile_s"] or 0.0) + dt
            bar.set_postfix_str("")
        else:
            window_steps, window_time = window_steps + ran, window_time + dt
            timed_steps, timed_s = timed_steps + ran, timed_s + dt
            bar.its_per_s = timed_steps / timed_s
            per_step = dt / ran
        if done:
            window_steps, window_time, last_eval = _advance(
                run, signals, model, opt_state, start + done, losses[done - 1], dt, total, cfg,
                window_steps, window_time, last_eval, cache, bar,
            )  # fmt: skip
            bar.update(done)
            if run.step == stop or (cfg.checkpoint_every and run.step % cfg.checkpoint_every == 0):
                run.save()
            if callback is not None:
                for i, loss in enumerate(losses[:done]):
                    callback(start + i + 1, loss)
        if done < n:
            _non_finite(run, start + done + 1, losses[done], data_key, bar, total)
            chunk_fn = None  # Rolled back (`_non_finite` raises otherwise).


def _chunk_length(start: int, stop: int, cfg: TrainConfig, per_step, callback) -> int:
    """How many steps the next chunk runs from step `start`: up to the next step with
    something to do on the host (`stop` included), at most `CHUNK_S` seconds of steps at
    the last chunk's rate, and one step at a time with a `callback` (which may stop the
    run after any step, with the state of that step)."""
    if callback is not None:
        return 1
    ends = [stop] + [
        (start // every + 1) * every
        for every in (cfg.log_every, cfg.eval_every, cfg.checkpoint_every)
        if every
    ]
    n = min(ends) - start
    if per_step is not None:
        n = min(n, max(1, int(CHUNK_S / per_step)))
    return min(n, MAX_CHUNK)


# A chunk cannot be interrupted: SIGINT / SIGTERM are handled when it returns (and the
# chunk is recomputed on resume). About a second of steps keeps Ctrl-C prompt, while the
# host's work per chunk (one dispatch, one transfer of the losses) stays a negligible
# share of it even at a few milliseconds per step.
CHUNK_S = 1.0


def _advance(
    run, signals, model, opt_state, s, loss, dt, total, cfg,
    window_steps, window_time, last_eval, cache, bar,
):  # fmt: skip
    """Step `s` with the state after it, the end of a chunk that took `dt` seconds: its
    record (and evaluation) if due, written before the run moves to it."""
    evaluate_now = s == total or (cfg.eval_every and s % cfg.eval_every == 0)
    record = None
    if evaluate_now or s % cfg.log_every == 0:
        # Training time after this step (`run.elapsed` moves with the step, below).
        record = {"step": s, "loss": loss, "time_s": run.elapsed + dt}
        if window_steps:
            record["its_per_s"] = window_steps / window_time
        window_steps, window_time = 0, 0.0
        if evaluate_now:
            t1 = time.perf_counter()
            view = copy.copy(run)  # The new model, before the step counts.
            view.model = model
            last_eval = _evaluate(view, cache)
            record.update(last_eval)
            record["eval_s"] = time.perf_counter() - t1
        error = last_eval.get("rel_l2", last_eval.get("rel_error"))
        bar.set_postfix_str(f"loss={loss:.3g} rel_l2={_fmt(error)}")
    with signals.deferred():
        if record is not None:
            run.write(functools.partial(run.log.append, record))
        run.model, run.opt_state, run.step = model, opt_state, s
        run.elapsed += dt
    return window_steps, window_time, last_eval


def _non_finite(run: _Run, s: int, loss: float, data_key, bar, total: int) -> None:
    """Step `s` gave a non-finite loss or state (the run is at step `s - 1`): roll back
    (`TrainConfig.rollbacks`) or raise `NonFiniteLossError`."""
    what = (
        f"the loss is {loss}"
        if not math.isfinite(loss)
        else "the parameters or the optimiser state became non-finite"
    )
    if run.config.train.rollbacks > 0:
        _rollback(run, s, what)
        bar.reset(total)
        bar.update(run.step)
        return
    where = (
        f"the last finite checkpoint (step {run.checkpoint_step}) is "
        f"`{run.run_dir / ckpt.CHECKPOINT}`"
        if run.run_dir is not None
        else "no run directory was given, so nothing was saved"
    )
    if s == 1 and not math.isfinite(loss):
        # Step 1's loss is that of the initial parameters, before any update.
        raise NonFiniteLossError(
            f"training stopped: {what} at step 1, on the initial parameters "
            "before any update, so the learning rate is not the cause: "
            f"{_step1_cause(run, data_key)}; {where}."
        )
    resume_hint = (
        f"`python -m zoo train --resume {run.run_dir} --lr LR --rollbacks N`"
        if run.run_dir is not None
        else "`rollbacks=N`"
    )
    raise NonFiniteLossError(
        f"training stopped: {what} at step {s}; {where}. The likely cause is "
        "a learning rate too large for the scale of this loss (or a float32 "
        "overflow): try a smaller `lr`, `precision='float64'`, or `rollbacks=N` "
        "(restart from the last checkpoint with a smaller learning rate); "
        f"to go on from the checkpoint: {resume_hint}."
    )


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


def _summary(run: _Run, compile_s, its_per_s) -> dict:
    cfg = run.config
    records = run.log.records
    final = records[-1] if records else {}
    evals = [r["rel_l2"] for r in records if "rel_l2" in r]
    pub = None
    if is_protocol(cfg):  # The published figure is comparable only to the protocol.
        pub = published(cfg.pde.name, cfg.pde.dim, f"stde{cfg.train.num_samples}")
    card = {
        "preset": cfg.preset,
        "pde": None if cfg.pde is None else cfg.pde.to_dict(),
        "model": cfg.model.to_dict(),
        "steps": run.step,
        "final_loss": final.get("loss"),
        "train_time_s": run.elapsed,
        "its_per_s": its_per_s or None,
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
    if card.get("rel_l2") is not None and card.get("trivial_rel_l2"):
        card["rel_l2_over_trivial"] = card["rel_l2"] / card["trivial_rel_l2"]
    source = None if run.run_dir is None else run.run_dir / "source" / ckpt.SUMMARY
    if cfg.train.source_dim is not None and source is not None and source.is_file():
        # The fit's own time is `train_time_s`; the solver's cost is both.
        card["source_train_time_s"] = ckpt.read_json(source, "the source's summary").get(
            "train_time_s"
        )
    return card


def _check_progress_args(progress, plots):
    for name, value in (("progress", progress), ("plots", plots)):
        if not isinstance(value, bool):
            raise ValueError(f"`{name}` must be a bool, got {value!r}.")


def _check_run_args(until, callback):
    check_int(until, "until", optional=True)
    if callback is not None and not callable(callback):
        raise ValueError(f"`callback` must be callable or None, got {callback!r}.")


def train(
    problem: "str | Preset | pdes.AbstractPDE",
    dim: int | None = None,
    *,
    config: TrainConfig | None = None,
    model: ModelConfig | None = None,
    pde_seed: int | None = None,
    recipe: str = "best",
    out: str | Path | None = None,
    overwrite: bool = False,
    progress: bool = True,
    plots: bool = True,
    until: int | None = None,
    callback: Callable | None = None,
    **overrides,
) -> Solver:
    """Train a solver for a preset (or your own PDE) and return it.

    ```python
    solver = zoo.train("allen-cahn-twobody", dim=1000, steps=2000, lr=3e-4, out="runs/ac")
    ```

    **Arguments:**

    - `problem`: a preset name (`zoo.names()`), a `zoo.Preset`, or a `pdes` PDE instance
      (which has its own dimension and seed: `dim` and `pde_seed` are refused with it; a
      `pdes.CustomPDE` cannot be resumed from disk).
    - `dim`: the dimension; default the preset's.
    - `config`: a `zoo.TrainConfig`; default the recipe's.
    - `model`: a `zoo.ModelConfig`; default the recipe's.
    - `pde_seed`: seed of the PDE's random coefficients (default 0).
    - `recipe`: `"best"` (the zoo's recommendation) or `"protocol"` (the published
      protocol, for the PDEs of the published tables); see `zoo.Preset.recipe`. Presets
      only.
    - `out`: a run directory for `config.json`, `metrics.jsonl`, `checkpoint.eqx`,
      `summary.json` and plots; None keeps everything in memory. It is locked for the
      life of the run: a second writer is refused.
    - `overwrite`: replace a run already in `out` (otherwise an error).
    - `progress`: show a progress bar; `plots`: write PNG plots at the end.
    - `until`: stop after this many steps (checkpointed; continue with `zoo.resume`).
    - `callback`: called as `callback(step, loss)` after every step; the loop then runs
      one step per dispatch (the callback may stop the run after any step) instead of
      many (`make_chunk`).
    - `**overrides`: fields of `zoo.TrainConfig` (`steps`, `lr`, `batch`, `optimizer`,
      ...) or `zoo.ModelConfig` (`width`, `depth`, ...), the names of the CLI's flags,
      applied with `.replace` on top of `config` / `model` (default the recipe's). `steps`
      without `eval_every` also sets `eval_every = max(1, steps // 10)` (ten evaluations,
      as the CLI's `--steps`); a two-phase recipe's warm-up keeps its share of `steps`.

    **Returns:** a `zoo.Solver`; its `card` holds the final errors beside the trivial fit
    and the published figure (when the run finished).

    **Raises:** `ValueError` for an unknown preset, bad dimension, an unknown override
    (naming the closest field) or one the config refuses (all checked before `out` is
    created), or if `out` is in use by another run;
    `zoo.NonFiniteLossError` if the loss becomes non-finite; `KeyboardInterrupt` (after
    saving a checkpoint) on Ctrl-C or SIGTERM.
    """
    train_changes, model_changes = split_overrides(overrides, "zoo.train", TrainConfig, ModelConfig)
    _check_progress_args(progress, plots)
    _check_run_args(until, callback)
    _check_out(out)
    dist.maybe_initialize()  # Multi-host from `STDE_*` variables; before any device use.
    if jax.process_index() != 0:
        out = None  # Process 0 alone writes the run directory.
    if isinstance(problem, pdes.AbstractPDE):
        if recipe != "best":
            raise ValueError(
                f"`recipe` applies to presets; with a PDE instance pass `config` and "
                f"`model`, got recipe={recipe!r}."
            )
        for name, value in (("dim", dim), ("pde_seed", pde_seed)):
            if value is not None:
                raise ValueError(
                    f"`{name}` must be None when `problem` is a PDE instance (it has its "
                    f"own dimension and seed), got {value!r}."
                )
        pde = problem
        # e.g. a CustomPDE is not rebuildable: it runs in memory, not from disk.
        spec = PDESpec.from_pde(pde) if pde.rebuildable else None
        run_config = RunConfig(
            preset=None,
            pde=spec,
            model=model or ModelConfig(),
            train=config or TrainConfig(),
        )
    else:
        preset = get_preset(problem)
        seed = 0 if pde_seed is None else pde_seed
        run_config = preset.run_config(dim, pde_seed=seed, train=config, model=model, recipe=recipe)
        pde = run_config.pde.build()
    run_config = run_config.replace(
        train=run_config.train.replace(**with_cadence(train_changes)),
        model=run_config.model.replace(**model_changes),
    )
    if run_config.train.source_dim is not None:
        # Before the model is resolved: a dimension-dependent default (the input scale)
        # is resolved at the source's dimension.
        runs = dict(progress=progress, plots=plots, until=until, callback=callback)
        return _train_from_source(run_config, pde, out, overwrite, runs)
    run_config = run_config.replace(model=resolve_model(run_config.model, pde))
    # Everything that can be refused is refused before the run directory is created.
    dist.make_mesh(run_config.train.devices, run_config.train.batch)
    dtype = dtype_of(run_config.train)
    init_key, _ = _keys(run_config.train.seed)
    net = build_model(pde, run_config.model, key=init_key, dtype=dtype)
    if run_config.train.init == "protocol":
        net = protocol_init(net, seeded_key(TRAIN_PROTOCOL_INIT, run_config.train.seed))
    net = _start_bias(net, pde, run_config.train, dtype)
    run_dir = _prepare_dir(out, overwrite)
    optimizer = make_optimizer(run_config.train, net, run_config.freezes)
    run = _Run(run_config, pde, net, optimizer, init_state(optimizer, net), 0, run_dir)
    if run_dir is not None:
        ckpt.write_config(run_dir, run_config)
    return _loop(run, progress=progress, until=until, callback=callback, plots=plots)


def _train_from_source(run_config: RunConfig, pde, out, overwrite: bool, runs: dict) -> Solver:
    """`zoo.train` of a config with `TrainConfig.source_dim` (see there): the model
    trained by the preset's best recipe at that dimension into `out/source` (a finished
    one there is reused, a started one resumed), then its readouts fitted here."""
    train_config, source_dim = run_config.train, run_config.train.source_dim
    if run_config.preset is None:
        raise ValueError(
            "`TrainConfig.source_dim` needs a preset, which it trains at that dimension "
            "first; with your own PDE train the source yourself and call `zoo.fit_readouts`."
        )
    if run_config.model.network != "window-mlp":
        raise ValueError(
            "`TrainConfig.source_dim` moves a window network (`ModelConfig.network="
            f"'window-mlp'`) to the run's dimension, got network={run_config.model.network!r}."
        )
    if source_dim == pde.input_dim:
        raise ValueError(
            f"`TrainConfig.source_dim` ({source_dim}) must differ from the run's dimension."
        )
    if out is not None and not overwrite:
        _check_free(Path(out))  # Refused now, not after the source's training.
    source_dir = None if out is None else Path(out) / "source"
    source_runs = dict(runs, until=None, callback=None)  # `until` counts the fit's steps.
    started = source_dir is not None and (source_dir / ckpt.CONFIG).is_file() and not overwrite
    if started:  # e.g. left by a run stopped before its fit began: reused only if it fits.
        found, seed = ckpt.read_config(source_dir).pde, run_config.pde.seed
        if (found.name, found.dim, found.seed) != (run_config.preset, source_dim, seed):
            raise ValueError(
                f"`{source_dir}` holds a source of {found.name} d={found.dim} PDE seed "
                f"{found.seed}, where this run's is {run_config.preset} d={source_dim} PDE "
                f"seed {seed}: remove it or pass overwrite=True."
            )
    if started and (source_dir / ckpt.SUMMARY).is_file():
        source = load(source_dir)
    elif started and (source_dir / ckpt.CHECKPOINT).is_file():
        source = resume(source_dir, **source_runs)
    else:
        _, recipe = get_preset(run_config.preset).recipe("best", source_dim)
        source = train(
            run_config.preset,
            source_dim,
            pde_seed=run_config.pde.seed,
            model=run_config.model,
            config=recipe.replace(seed=train_config.seed),
            out=source_dir,
            overwrite=overwrite,
            **source_runs,
        )
    if source_dir is not None:
        source.card.setdefault("run_dir", str(source_dir))  # for the run's `init_from`
    freeze, warmup_freeze = source_freezes(train_config)
    return finetune(
        _moved(source, pde),
        pde,
        config=train_config,
        reset="last",
        freeze=freeze,
        warmup_freeze=warmup_freeze,
        out=out,
        overwrite=overwrite,
        **runs,
    )


class FinishedRunWarning(UserWarning):
    """`zoo.resume` of a run that has already finished: nothing was done; the message
    says how to extend it."""


def _expected_changes(records: list[dict], step: int) -> dict[str, object]:
    """The `config.json` values that rollbacks and resumes recorded at the checkpoint's
    `step` may have written ahead of the checkpoint (`{field: value}`, None: any)."""
    expected: dict[str, object] = {}
    for r in records:
        if r.get("step") != step:
            continue
        if r.get("event") == "rollback":
            expected.update({"train.lr": r.get("lr"), "train.rollbacks": None})
        elif r.get("event") == "resume" and isinstance(r.get("changes"), dict):
            for name, change in r["changes"].items():
                if isinstance(change, list) and len(change) == 2:
                    expected[f"train.{name}"] = change[1]
    return expected


def _explained(config: RunConfig, header: dict, records: list[dict], step: int) -> set[str]:
    expected = _expected_changes(records, step)
    ours = ckpt.config_differences(config, header)
    return {
        k
        for k, (_, value) in ours.items()
        if k in expected and (expected[k] is None or ckpt._same_number(expected[k], value))
    }


def resume(
    run_dir: str | Path,
    *,
    steps: int | None = None,
    lr: float | None = None,
    rollbacks: int | None = None,
    pde: "pdes.AbstractPDE | None" = None,
    progress: bool = True,
    plots: bool = True,
    until: int | None = None,
    callback: Callable | None = None,
) -> Solver:
    """Continue the run in `run_dir` from its checkpoint, exactly as if uninterrupted.

    **Arguments:**

    - `run_dir`: the run directory (locked while the run goes on).
    - `steps`: a new total number of steps, more than the checkpoint's step (the
      learning-rate schedule then follows the new total, so the trajectory differs from
      an uninterrupted run of the old total). A finished run is extended this way.
    - `lr`, `rollbacks`: a new peak learning rate and number of rollbacks, e.g. after a
      divergence. Each change is written to `config.json` and recorded in
      `metrics.jsonl` as `{"step": k, "event": "resume", "changes": {name: [old, new]}}`.
    - `pde`: for runs of a user-defined PDE (a run of a named PDE refuses another one).
    - the rest as `train`.

    `config.json` must agree with the configuration stored in the checkpoint (apart from
    the changes recorded by rollbacks and resumes): an edited PDE, seed, model,
    estimator or learning rate is refused, naming the fields. Resuming a finished run
    does nothing and says so (`zoo.FinishedRunWarning`).

    **Raises:** `ValueError` if `run_dir` is not a run, its checkpoint is damaged,
    `config.json` contradicts the checkpoint, `steps` is not beyond the checkpoint, or
    another process is running it.
    """
    _check_progress_args(progress, plots)
    _check_run_args(until, callback)
    if isinstance(run_dir, str) and not run_dir.strip():
        raise ValueError("`run_dir` is empty: name the run directory to resume.")
    dist.maybe_initialize()
    run_dir = Path(run_dir)
    writer = jax.process_index() == 0
    if not run_dir.is_dir():
        raise ValueError(f"`{run_dir}` is not a directory.")
    if writer:
        ckpt.lock_run_dir(run_dir)
    try:
        return _resume(run_dir, writer, steps, lr, rollbacks, pde, progress, plots, until, callback)
    finally:
        ckpt.unlock_run_dir(run_dir)


def _resume(run_dir, writer, steps, lr, rollbacks, pde, progress, plots, until, callback):
    config = ckpt.read_config(run_dir)
    _check_pde(config, pde, f"`{run_dir}`")
    header = ckpt.read_checkpoint_header(run_dir)
    step = header["metadata"]["step"]
    records = ckpt.read_metrics(run_dir)
    check_run(run_dir, config, header, pde, _explained(config, header, records, step))
    if writer:
        ckpt.remove_temp_files(run_dir)
    old = config.train
    wanted = {"steps": steps, "lr": lr, "rollbacks": rollbacks}
    changes = {k: v for k, v in wanted.items() if v is not None and v != getattr(old, k)}
    train_cfg = old.replace(**changes)  # Validates the new values.
    finished = step >= old.steps
    if steps is not None and steps <= step and not (finished and steps == old.steps):
        raise ValueError(
            f"`steps` must be more than the checkpoint's step {step} (a run cannot be "
            f"shortened or rewritten), got {steps}; `{run_dir}` is at step {step} of "
            f"{old.steps}."
        )
    if finished and "steps" not in changes:
        if changes:
            raise ValueError(
                f"`{run_dir}` is finished ({step} of {old.steps} steps), so "
                f"{' and '.join(f'`{k}`' for k in changes)} would change nothing: extend "
                f"it with `steps` above {step} too (`--steps N`)."
            )
        if (run_dir / ckpt.SUMMARY).is_file():
            warnings.warn(
                f"`{run_dir}` is finished ({step} of {old.steps} steps): nothing to do. "
                f"Extend it with `--resume {run_dir} --steps N` (`zoo.resume(..., "
                f"steps=N)`), N > {step}.",
                FinishedRunWarning,
                stacklevel=3,
            )
            return load(run_dir, pde=pde)
    if changes:
        config = config.replace(train=train_cfg)
        if writer:
            # The event first: a process killed between the two writes leaves an
            # explained config (or an unchanged one), never an unexplained one.
            event = {"step": step, "event": "resume"}
            event["changes"] = {k: [getattr(old, k), v] for k, v in changes.items()}
            log = ckpt.MetricsLog(run_dir)
            log.truncate(step)
            log.append(event)
            ckpt.write_config(run_dir, config)
    pde, model, optimizer, opt_state = skeleton(config, pde)
    model, opt_state, step = ckpt.load_checkpoint(run_dir, model, opt_state)
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
    head_steps: int = 0,
    readout_steps: int = 0,
    warmup_freeze: str | None = None,
    pde_seed: int | None = None,
    dim: int | None = None,
    out: str | Path | None = None,
    overwrite: bool = False,
    progress: bool = True,
    plots: bool = True,
    until: int | None = None,
    callback: Callable | None = None,
    **overrides,
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
    - `head_steps`: train the output layer alone for this many of the `steps` first (a
      warm-up phase with the run's config over its own schedule, in place of the
      config's warm-up if it has one; then the layers `freeze` leaves for the rest): the
      new output layer is fitted to the old features before they move. With
      `reset="last"` the way to fine-tune a natural-gradient solver
      (docs/concepts/finetuning.md).
    - `readout_steps`: make the first this many of the `steps` the readouts'
      Gauss-Newton fit (`zoo.fit_readouts`' steps: the output layer alone, natural
      gradient with the exact operator on 1.5 fresh points per output-layer parameter,
      rate 1, no momentum, damping 1e-6; in place of the config's warm-up), then the
      config's steps on the layers `freeze` leaves. The head phase of `head_steps` in a
      few steps, each solving for the readouts. For the two-body window solvers at d = 100
      on other instances of their family: 3 such steps, then the rest nearly undamped
      (`damping=1e-5`: from there the Gauss-Newton model holds), reach the from-scratch
      error in half the recipe's steps (docs/concepts/finetuning.md).
    - `warmup_freeze`: what the config's own warm-up phase (`TrainConfig.warmup`, with
      its own optimiser, points and rate) freezes, one of the `freeze` values; None: the
      same as `freeze`. E.g. `"all-but-last"`: the warm-up fits the output layer, the rest
      of the steps train what `freeze` leaves. (`head_steps` sets it to `"all-but-last"`
      for its own warm-up, so the two are not given together.)
    - `pde_seed`: the seed when `pde` is a preset name (or None for a solver trained on a
      preset: another instance of that preset); default the solver's PDE seed.
    - `dim`: the dimension when `pde` is a preset name (or None for a solver trained on a
      preset); default the solver's. A window network (`models.WindowMLP`) fine-tunes at
      another dimension: its shared MLP carries over, with the input scale multiplied by
      the ratio of the two PDEs' coordinate root mean squares (so it sees the inputs it
      learned on), and new readouts (`reset="last"`, which this needs). To fit only the
      readouts there, `zoo.fit_readouts` (which keeps the scale).
    - `**overrides`: fields of `zoo.TrainConfig` (`steps=500`, `lr=1e-4`, ...) applied
      on top of `config`, as in `zoo.train` (`steps` without `eval_every` gives ten
      evaluations); `zoo.ModelConfig` fields are refused (the solver's network is kept).
    - the rest as `zoo.train`.

    **Raises:** `ValueError` if the new PDE's input dimension differs from the solver's
    (for a network other than a window network, or without `reset="last"`), an argument
    would be ignored (`pde_seed` without a preset name, a `ModelConfig`
    field), an override is unknown or refused by `TrainConfig`, `head_steps` is not
    below `steps` (nor `readout_steps`), `head_steps` and `readout_steps` are given
    together, or `warmup_freeze` is given with either or without a warm-up in the config;
    checked before `out` is created.
    """
    if model_fields := sorted(set(overrides) & set(ModelConfig.__dataclass_fields__)):
        raise ValueError(
            f"`zoo.finetune` keeps the solver's network: `zoo.ModelConfig` fields cannot be "
            f"changed, got {', '.join(model_fields)}."
        )
    (train_changes,) = split_overrides(overrides, "zoo.finetune", TrainConfig)
    _check_progress_args(progress, plots)
    _check_run_args(until, callback)
    _check_out(out)
    dist.maybe_initialize()
    if jax.process_index() != 0:
        out = None
    if not isinstance(solver, Solver):
        raise ValueError(f"`solver` must be a `zoo.Solver`, got {type(solver).__name__}.")
    base = solver.config  # None for a `Solver` built by hand around a model.
    if freeze not in FREEZES:
        raise ValueError(f"`freeze` must be one of {list(FREEZES)}, got {freeze!r}.")
    if reset not in ("none", "last"):
        raise ValueError(f"`reset` must be 'none' or 'last', got {reset!r}.")
    if warmup_freeze is not None and warmup_freeze not in FREEZES:
        raise ValueError(
            f"`warmup_freeze` must be None or one of {list(FREEZES)}, got {warmup_freeze!r}."
        )
    if warmup_freeze is not None and (head_steps or readout_steps):
        raise ValueError(
            "`warmup_freeze` is for the config's own warm-up; `head_steps` and "
            "`readout_steps` make a warm-up of the output layer alone: give one of them."
        )
    if head_steps and readout_steps:
        raise ValueError(
            "`head_steps` and `readout_steps` each make the output layer's warm-up: give "
            "one of them."
        )
    pde = _target_pde(solver, pde, pde_seed, dim)
    net = solver.model.net  # The network inside the solver's `models.Constrained`.
    model_config = base.model if base is not None else ModelConfig()
    if pde.input_dim != solver.input_dim:
        net, model_config = _resized(solver, pde, reset)
    if config is None:
        config = base.train if base is not None else TrainConfig()
    config = config.replace(**with_cadence(train_changes))
    config = _with_output_phase(config, head_steps, "head_steps")
    fit = _readout_fit(net) if readout_steps else {}
    config = _with_output_phase(config, readout_steps, "readout_steps", **fit)
    if head_steps or readout_steps:
        warmup_freeze = "all-but-last"
    spec = PDESpec.from_pde(pde) if pde.rebuildable else None
    preset_name = spec.name if spec is not None and spec.name in _preset_names() else None
    evaluation = get_preset(preset_name).evaluation if preset_name else "field"
    run_config = RunConfig(
        preset=preset_name,
        pde=spec,
        model=model_config,
        train=config,
        freeze=freeze,
        warmup_freeze=warmup_freeze,
        init_from=_describe(solver, reset),
        evaluation=evaluation,
    )
    dtype = dtype_of(config)
    model = models.Constrained(models.zero_last(net) if reset == "last" else net, pde.ansatz)
    model = jax.tree_util.tree_map(
        lambda x: x.astype(dtype) if eqx.is_inexact_array(x) else x, model
    )
    model = _start_bias(model, pde, config, dtype)
    if out is not None and spec is None:
        raise ValueError(
            "`out` needs a PDE that can be rebuilt from its config; this PDE cannot "
            "(a `pdes.CustomPDE`): pass `out=None`."
        )
    dist.make_mesh(config.devices, config.batch)
    run_dir = _prepare_dir(out, overwrite)
    optimizer = make_optimizer(config, model, run_config.freezes)
    run = _Run(run_config, pde, model, optimizer, init_state(optimizer, model), 0, run_dir)
    if run_dir is not None:
        ckpt.write_config(run_dir, run_config)
    return _loop(run, progress=progress, until=until, callback=callback, plots=plots)


def fit_readouts(
    solver: Solver,
    pde: "str | pdes.AbstractPDE | None" = None,
    *,
    pde_seed: int | None = None,
    dim: int | None = None,
    steps: int = 3,
    points_per_parameter: float = 1.5,
    damping: float = 1e-6,
    **kwargs,
) -> Solver:
    """Refit `solver`'s output layer to `pde` by Gauss-Newton, every other layer kept.

    The field is linear in the output layer, so for a linear PDE its residual is linear
    in those parameters: the least-squares fit over enough points is one Gauss-Newton
    step (the next ones refine its float32 solve), and a nonlinear one converges in a
    few Newton-like steps. They start from the zero readouts and the output bias fitted
    to the residual on 1024 points (`TrainConfig.init_bias="residual"`), i.e. from the
    trivial fit: where the solution is large the constant is most of it, and Newton's
    steps from a zero output on Allen-Cahn's cubic were slow to reach it (two-body at
    d = 10 000, PDE seeds 1, 2, 4: still 0.0044-0.021 of the trivial fit after six steps;
    from the fitted bias 0.0003-0.0004 after two). This is `zoo.finetune` with
    `reset="last"`, `freeze="all-but-last"`, and `steps` natural-gradient steps with the
    exact operator on `points_per_parameter` times as many fresh points as the output
    layer has parameters (so each step solves the P x P system, `zoo/_natgrad.py`),
    `momentum=0`, `lr=1`, a constant schedule, relative `damping`.

    What it is for: a window network (`models.WindowMLP`) learned on one instance or
    dimension of a PDE family whose solution is a sum of one window function with
    instance-specific weights (the ball catalogue's two- and three-body PDEs): only its
    readouts are the instance. Moved to another dimension (`dim`, or a `pde` of another
    input dimension) it keeps its input scale, since the window function is one function
    of x at every d (not `finetune`'s rms-ratio rule), and is centred
    (`models.WindowMLP`). Measured (docs/results.md), two-body window networks trained at
    d = 100 (~20 s each), PDE seeds 0-4 of Allen-Cahn, Poisson and Sine-Gordon: their
    readouts fitted at d = 1000 end at 0.00007-0.00037 of the trivial fit in 3-4 s; at
    d = 10 000 (15 008 points a step, ~60 s a step on two CPU cores) at ~0.0003 in three
    steps. The two-body presets' best recipe from d = 1000 to 10 000 is this
    (`TrainConfig.source_dim`). Where the window function is not accurate enough (the
    three-body PDEs at d = 1000), the readouts alone are not either: use `zoo.finetune`.

    **Arguments:** `solver`, `pde`, `pde_seed`, `dim` as `zoo.finetune`; `steps` (an int
    >= 1); `points_per_parameter` (> 1; the batch is rounded up to a multiple of 16);
    `damping`; `**kwargs`: the rest of `zoo.finetune`'s keywords (`out`, `progress`, ...)
    and `zoo.TrainConfig` fields, applied over the above.

    **Raises:** `ValueError` for `points_per_parameter <= 1`, and as `zoo.finetune`.
    """
    check_int(steps, "steps")
    if not (isinstance(points_per_parameter, int | float) and points_per_parameter > 1):
        raise ValueError(
            "`points_per_parameter` must be a number > 1 (with fewer points than "
            f"parameters a step interpolates its batch), got {points_per_parameter!r}."
        )
    if not isinstance(solver, Solver):
        raise ValueError(f"`solver` must be a `zoo.Solver`, got {type(solver).__name__}.")
    target = _target_pde(solver, pde, pde_seed, dim)
    net = solver.model.net
    if isinstance(net, models.WindowMLP) and target.input_dim != net.in_size:
        solver = _moved(solver, target)
        net = solver.model.net
    settings = readout_settings(_readouts(net), steps, points_per_parameter, damping)
    return finetune(solver, target, reset="last", freeze="all-but-last", **{**settings, **kwargs})


def _moved(solver: Solver, pde) -> Solver:
    """`solver`'s window network at `pde`'s input dimension for `fit_readouts`: the input
    scale kept and centred (see there), the readouts new; `finetune` then starts from it
    as from a solver of that dimension."""
    if solver.config is None:
        raise ValueError("`fit_readouts` moves only a window network trained by `zoo`.")
    net = solver.model.net
    # The scale is kept: the catalogue's window functions are one function of x in every
    # dimension (exact least squares over the readouts, two-body d = 100 -> 1000: 0.0001
    # of the trivial fit kept, 0.117 with `finetune`'s rms-ratio rule). Centred, so that
    # the readouts' Gauss-Newton system is well conditioned (`models.WindowMLP`).
    moved = net.resized(pde.input_dim, scale=net.scale, centred=True)
    config = solver.config.replace(model=solver.config.model.replace(centred=True))
    return Solver(models.Constrained(moved, solver.model.ansatz), pde, config, solver.card)


def _target_pde(solver: Solver, pde, pde_seed, dim) -> pdes.AbstractPDE:
    """The PDE `finetune` trains on: `pde` as given, a preset name built at `dim` with
    `pde_seed` (defaults: the solver's), or the solver's own."""
    base = solver.config
    if pde is None and (pde_seed, dim) != (None, None) and base is not None and base.preset:
        pde = base.preset  # Another instance of the solver's own preset.
    for label, value in (("pde_seed", pde_seed), ("dim", dim)):
        if value is not None and not isinstance(pde, str):
            raise ValueError(
                f"`{label}` is only for a preset name given as `pde` or a solver trained on "
                f"a preset (got {type(pde).__name__}: the PDE has its own), got {value!r}."
            )
    if pde is None:
        return solver.pde
    if isinstance(pde, str):
        seed = solver.pde.seed if pde_seed is None else pde_seed
        pde_dim = solver.pde.dim if dim is None else check_int(dim, "dim")
        pde = get_preset(pde).run_config(pde_dim, pde_seed=seed).pde.build()
    if not isinstance(pde, pdes.AbstractPDE):
        raise ValueError(f"`pde` must be a `pdes` PDE or a preset name, got {pde!r}.")
    return pde


def _resized(solver: Solver, pde, reset: str):
    """The solver's window network moved to `pde`'s input dimension (`finetune`'s `dim`),
    with its `zoo.ModelConfig`."""
    net = solver.model.net
    if not isinstance(net, models.WindowMLP) or solver.config is None:
        raise ValueError(
            f"`pde` has input dimension {pde.input_dim}, but the solver takes "
            f"{solver.input_dim}: only a window network (`models.WindowMLP`, trained by "
            f"`zoo`) fine-tunes at another dimension, this solver's is a "
            f"{type(net).__name__}."
        )
    if reset != "last":
        raise ValueError(
            "A window network moved to another dimension has new readouts (one per "
            "window): pass `reset='last'`."
        )
    scale = net.scale * coordinate_rms(solver.pde) / coordinate_rms(pde)
    return net.resized(pde.input_dim, scale=scale), solver.config.model.replace(scale=scale)


def _with_output_phase(config: TrainConfig, steps: int, name: str, **changes) -> TrainConfig:
    """`config` with its first `steps` steps a warm-up phase of its own (`finetune`'s
    output-layer phase: the run's config with `changes`, in place of the config's
    warm-up), or as is for 0; `name` is the argument's, for errors."""
    check_int(steps, name, minimum=0)
    if steps == 0:
        return config
    if steps >= config.steps:
        raise ValueError(
            f"`{name}` ({steps}) must be below the run's `steps` ({config.steps}): the rest "
            "trains the other layers."
        )
    main = config.replace(warmup=None)
    return main.replace(warmup=main.replace(steps=steps, **changes))


def _readout_fit(net) -> dict:
    """`TrainConfig` changes that make a run's phase the Gauss-Newton fit of `net`'s
    readouts (`fit_readouts`' settings). On the run's config, as `fit_readouts` is on the
    solver's (its precision, devices, ...), with the run's cadence: the loop follows the
    run's, and the written config should not show the fit's own (an evaluation every
    step)."""
    fit = readout_settings(_readouts(net))
    for own in ("steps", "warmup", "log_every", "eval_every", "checkpoint_every"):
        del fit[own]
    return fit


def _readouts(net) -> int:
    """Parameters of `net`'s output layer."""
    last = eqx.filter(net, models.trainable_spec(net, "last"))
    return sum(a.size for a in jax.tree_util.tree_leaves(last))


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
        step = card.get("step", card.get("steps"))  # a loaded solver's, a trained one's
        return f"{solver.config.pde.name} (d={solver.config.pde.dim}, step {step})"
    return None
