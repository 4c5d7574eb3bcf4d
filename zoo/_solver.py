"""`Solver` (a trained model with its PDE), `load` and `evaluate`."""

import difflib
import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

import models

from . import _checkpoint as ckpt
from ._config import RunConfig
from ._evaluate import point_errors, stream_errors
from ._optim import make_optimizer, params_of
from ._presets import (
    build_model,
    dtype_of,
    get_preset,
    get_pretrained,
    names,
    point_reference,
    pretrained_names,
)

PRETRAINED_DIR = Path(__file__).parent / "pretrained"


@eqx.filter_jit
def _apply(model, x):
    return jax.vmap(model)(x)


class Solver(eqx.Module):
    """A trained solver: call it as $u(x)$.

    `solver(x)` takes one point of shape `(input_dim,)` (returns a scalar) or a batch of
    shape `(n, input_dim)` (returns `(n,)`); time-dependent PDEs have time last. The
    solver carries its `pde`, the `config` it was trained with (a `zoo.RunConfig`, None
    for a model trained outside `zoo`) and a `card` (dict: final errors, steps, timing,
    versions; empty if unknown).
    """

    model: Any
    pde: Any
    config: RunConfig | None = eqx.field(static=True)
    card: dict

    @property
    def input_dim(self) -> int:
        return self.pde.input_dim

    @property
    def dtype(self):
        leaves = [x for x in jax.tree_util.tree_leaves(self.model) if eqx.is_inexact_array(x)]
        return leaves[0].dtype if leaves else jnp.float32

    def __call__(self, x: Float[Array, "*batch input_dim"]) -> Float[Array, "*batch"]:
        x = jnp.asarray(x)
        n = self.input_dim
        if x.ndim not in (1, 2) or x.shape[-1] != n:
            raise ValueError(
                f"`x` must have shape ({n},) or (batch, {n}) for this solver "
                f"(input_dim={n}), got {x.shape}."
            )
        if not jnp.issubdtype(x.dtype, jnp.floating):
            raise ValueError(f"`x` must be a floating-point array, got dtype {x.dtype}.")
        x = x.astype(self.dtype)
        if x.ndim == 1:
            return self.model(x)
        return _apply(self.model, x)


def evaluate(
    solver: Solver,
    n_points: int = 2000,
    *,
    key: PRNGKeyArray | None = None,
    batch_size: int | None = None,
) -> dict:
    """Errors of `solver` against its PDE's solution on `n_points` streamed test points.

    **Arguments:**

    - `solver`: a `zoo.Solver`.
    - `n_points`: test points (generated and evaluated `batch_size` at a time).
    - `key`: the test stream's key; default the run's `test_seed` (12345 if unknown).
    - `batch_size`: test points per batch; default chosen from the dimension.

    **Returns:** a dict with `rel_l2`, `trivial_rel_l2` (the best one-scalar fit of the
    ansatz, the honesty baseline), `linf`, `rel_linf` and `n_points`. For PDEs whose
    truth is known only at a reference point (parabolic, HJB-LQG): `u_reference_point`,
    `reference_value` and, when a reference exists, `rel_error`.
    """
    if not isinstance(solver, Solver):
        raise ValueError(f"`solver` must be a `zoo.Solver`, got {type(solver).__name__}.")
    pde = solver.pde
    if solver.config is not None:
        mode = solver.config.evaluation
    else:
        # Presets know whether their truth is a field or one reference value.
        mode = get_preset(pde.name).evaluation if pde.name in names() else "field"
    if mode == "point":
        return point_errors(solver.model, pde, point_reference(pde))
    if key is None:
        seed = 12345 if solver.config is None else solver.config.train.test_seed
        key = jax.random.PRNGKey(seed)
    try:
        return stream_errors(solver.model, pde, n=n_points, key=key, batch_size=batch_size)
    except NotImplementedError as e:
        raise ValueError(f"`{pde.name}` has no known solution to compare with: {e}") from None


def skeleton(config: RunConfig, pde=None):
    """A freshly initialised model and optimiser state of the run's structure."""
    if pde is None:
        if config.pde is None:
            raise ValueError(
                "this run's PDE cannot be rebuilt from its config (a user-defined PDE); "
                "pass `pde=` explicitly."
            )
        pde = config.pde.build()
    dtype = dtype_of(config.train)
    model = build_model(pde, config.model, key=jax.random.PRNGKey(0), dtype=dtype)
    optimizer = make_optimizer(config.train, model, config.freeze)
    return pde, model, optimizer, optimizer.init(params_of(model))


def _load_run(run_dir: Path, pde=None) -> Solver:
    config = ckpt.read_config(run_dir)
    pde, model, _, opt_state = skeleton(config, pde)
    model, _, step = ckpt.load_checkpoint(run_dir, model, opt_state)
    card = {"step": step, "run_dir": str(run_dir)}
    if (run_dir / ckpt.SUMMARY).is_file():
        card.update(ckpt.read_json(run_dir / ckpt.SUMMARY, "no summary"))
    return Solver(model, pde, config, card)


def file_sha256(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _shipped(name: str) -> bool:
    return (PRETRAINED_DIR / f"{name}.json").is_file()


def _load_pretrained(name: str) -> Solver:
    weights, card_path = PRETRAINED_DIR / f"{name}.eqx", PRETRAINED_DIR / f"{name}.json"
    if not weights.is_file() or not card_path.is_file():
        entry = get_pretrained(name)
        raise ValueError(
            f"no pretrained weights for {name!r} are shipped with this installation; train "
            f"them with `python -m zoo train {entry.preset} --dim {entry.dim} --out DIR` and "
            "load the run directory."
        )
    try:
        card = json.loads(card_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ValueError(f"`{card_path}` is damaged (not JSON).") from None
    expected = card.get("sha256")
    if file_sha256(weights) != expected:
        raise ValueError(
            f"`{weights}` does not match the sha256 in its model card `{card_path.name}`: the "
            "file is damaged or was replaced; reinstall stde-zoo."
        )
    try:
        config = RunConfig.from_dict(card["config"])
    except (KeyError, ValueError) as e:
        raise ValueError(f"`{card_path}` is damaged: {e}") from None
    pde, model, _, _ = skeleton(config)
    model = models.load(weights, like=model)
    return Solver(model, pde, config, card)


def export_pretrained(run_dir: str | os.PathLike, name: str, dest: str | os.PathLike) -> dict:
    """Write the final model of a finished run as `dest/<name>.eqx` with the model card
    `dest/<name>.json` (PDE and seed, model, training configuration, final errors beside
    the trivial fit and the published figure, training time, versions, sha256).

    **Returns:** the card.

    **Raises:** `ValueError` if the run has not finished.
    """
    run_dir, dest = Path(run_dir), Path(dest)
    solver = _load_run(run_dir)
    if "rel_l2" not in solver.card and "u_reference_point" not in solver.card:
        raise ValueError(f"`{run_dir}` has not finished (no `summary.json`): resume it first.")
    dest.mkdir(parents=True, exist_ok=True)
    weights = dest / f"{name}.eqx"
    models.save(weights, solver.model, metadata={"name": name, "config": solver.config.to_dict()})
    card = {k: v for k, v in solver.card.items() if k != "run_dir"}
    card.update(
        name=name,
        config=solver.config.to_dict(),
        train=solver.config.train.to_dict(),
        device=str(jax.devices()[0]),
        file=weights.name,
        sha256=file_sha256(weights),
    )
    ckpt.write_json_atomic(dest / f"{name}.json", card)
    return card


def load(name_or_dir: str | os.PathLike, *, dim: int | None = None, pde=None) -> Solver:
    """Load a pretrained solver by name, or the latest checkpoint of a run directory.

    **Arguments:**

    - `name_or_dir`: a pretrained name such as `"allen-cahn-twobody-d100"` (weights
      shipped in `zoo/pretrained/`, verified against the sha256 in the model card), a
      preset name with `dim=` (meaning `<preset>-d<dim>`), or a run directory written by
      `zoo.train` / `python -m zoo train --out DIR`.
    - `pde`: for runs of a user-defined PDE, which cannot be rebuilt from `config.json`.

    **Raises:** `ValueError` with the reason if the name is unknown, the weights are not
    shipped, or a file is missing or damaged.
    """
    path = Path(name_or_dir)
    if path.is_dir():
        return _load_run(path, pde)
    name = str(name_or_dir)
    if dim is not None and name in names():
        name = f"{name}-d{dim}"
    if name in pretrained_names() or _shipped(name):
        return _load_pretrained(name)
    if name in names():
        known = [p for p in pretrained_names() if p.startswith(name + "-d")]
        raise ValueError(
            f"{name!r} is a preset, not a trained solver: pass `dim=` or a pretrained name "
            f"({', '.join(known) or 'none for this preset'}), or train it with "
            f"`python -m zoo train {name}`."
        )
    m = re.fullmatch(r"(.+)-d(\d+)", name)
    if m and m.group(1) in names():
        raise ValueError(
            f"no pretrained solver {name!r}; pretrained: {', '.join(pretrained_names())}. Train "
            f"it with `python -m zoo train {m.group(1)} --dim {m.group(2)} --out DIR`."
        )
    close = difflib.get_close_matches(name, pretrained_names() + names(), n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise ValueError(
        f"{name!r} is neither a run directory nor a pretrained solver.{hint} Pretrained: "
        f"{', '.join(pretrained_names())}."
    )
