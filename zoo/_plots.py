"""PNG plots of a run: training curves and a 1D slice of $u$ and $u^*$ through the domain.

Drawn with matplotlib's object API on an Agg canvas: no global backend switch, no window.
"""

import os
import tempfile
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np


def _figure(ncols: int = 1):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5.5 * ncols, 4), layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.subplots(1, ncols, squeeze=False)[0]


def _save(fig, path: Path) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".png")
    os.close(fd)
    try:
        fig.savefig(tmp, dpi=110)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def error_series(records: list[dict]) -> tuple[list[tuple[int, float]], str, str]:
    """(step, error) pairs, legend label and axis label of the error curve. Point-evaluation
    PDEs (parabolic, HJB) log the relative error of u at their reference point instead of a
    rel-L2 over the domain."""
    key, label, ylabel = "rel_l2", "rel-L2 (this run)", "relative L2 error"
    if not any(key in r for r in records) and any("rel_error" in r for r in records):
        key, label = "rel_error", "|u - u_ref| / |u_ref| (this run)"
        ylabel = "relative error at the reference point"
    return [(r["step"], r[key]) for r in records if key in r], label, ylabel


def plot_curves(path: Path, records: list[dict], card: dict, title: str) -> None:
    """Loss against step, and rel-L2 against step beside the trivial fit and the published
    figure."""
    fig, (ax_loss, ax_err) = _figure(2)
    logged = [r for r in records if "loss" in r]  # Not the rollback events.
    ax_loss.semilogy([r["step"] for r in logged], [r["loss"] for r in logged], lw=1)
    for r in records:
        if r.get("event") == "rollback":
            ax_loss.axvline(r["step"], color="tab:red", lw=0.8, ls=":")
    ax_loss.set(xlabel="step", ylabel="training loss", title=title)
    evals, label, ylabel = error_series(records)
    if evals:
        ax_err.semilogy(*zip(*evals), "o-", label=label)
        if card.get("trivial_rel_l2") is not None:
            ax_err.axhline(card["trivial_rel_l2"], color="gray", ls=":", label="trivial fit")
        if card.get("published_rel_l2") is not None:
            ax_err.axhline(
                card["published_rel_l2"], color="C3", ls="--", label="published (min over evals)"
            )
        ax_err.legend()
    else:
        ax_err.text(0.5, 0.5, "no error evaluations", ha="center", transform=ax_err.transAxes)
    ax_err.set(xlabel="step", ylabel=ylabel)
    _save(fig, path)


def slice_points(pde, n: int = 201, key=None) -> tuple[np.ndarray, jax.Array]:
    """Points on a segment through the domain: for ball domains a diameter along a seeded
    random direction; otherwise coordinate 0 across the range of sampled points, the other
    coordinates at their median. Returns `(s, x)`: the abscissa and the points."""
    key = jax.random.PRNGKey(0) if key is None else key
    ansatz = pde.ansatz
    s = np.linspace(-1.0, 1.0, n)
    if ansatz.kind in ("ball", "clamped-ball"):
        v = jax.random.normal(key, (pde.dim,))
        v = ansatz.radius * v / jnp.linalg.norm(v)
        return s, jnp.asarray(s)[:, None] * v[None, :]
    sample = np.asarray(pde.sample_interior(key, 512))
    centre = np.median(sample, axis=0)
    lo, hi = sample[:, 0].min(), sample[:, 0].max()
    s = np.linspace(lo, hi, n)
    x = np.repeat(centre[None, :], n, axis=0)
    x[:, 0] = s
    return s, jnp.asarray(x)


def plot_slice(path: Path, solver, title: str) -> None:
    """$u$ (and $u^*$ where known) along `slice_points`."""
    pde = solver.pde
    s, x = slice_points(pde)
    x = x.astype(solver.dtype)
    fig, (ax,) = _figure(1)
    ax.plot(s, np.asarray(solver(x)), label="u (network)")
    try:
        ref = np.asarray(jax.vmap(pde.reference_solution)(x))
        ax.plot(s, ref, "--", label="u* (exact / reference)")
    except NotImplementedError:
        pass
    ball = pde.ansatz.kind in ("ball", "clamped-ball")
    ax.set(
        xlabel="s (x = s R v, v a random unit direction)" if ball else "x_0 (others at median)",
        ylabel="u",
        title=title,
    )
    ax.legend()
    _save(fig, path)


def write_plots(run_dir: Path, solver, records: list[dict], card: dict) -> None:
    """`curves.png` and `slice.png` in `run_dir`."""
    cfg = solver.config
    title = f"{cfg.preset or 'pde'} d={solver.pde.dim}" if cfg is not None else "run"
    plot_curves(Path(run_dir) / "curves.png", records, card, title)
    plot_slice(Path(run_dir) / "slice.png", solver, title)
