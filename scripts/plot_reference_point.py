"""Plot u at the reference point against training time for runs of point-evaluation
presets (parabolic, HJB-LQG), one panel per preset, one line per run (grey for Adam,
blue for a natural-gradient phase), the reference value dashed: where a run's value
settles, and how far it wanders on the way.

    python scripts/plot_reference_point.py RUN_DIR... --out docs/images/parabolic.png

A run's label is its directory name; runs of the same preset share a panel.
"""

import argparse
from pathlib import Path

import pdes
import zoo
from zoo._checkpoint import read_config


def series(run_dir: Path) -> tuple[zoo.RunConfig, list[tuple[float, float]]]:
    try:
        config = read_config(run_dir)
    except ValueError as e:
        raise SystemExit(f"error: {e}") from None
    records = zoo.read_metrics(run_dir)
    points = [(r["time_s"], r["u_reference_point"]) for r in records if "u_reference_point" in r]
    if not points:
        raise SystemExit(f"error: {run_dir} logged no value at a reference point")
    return config, points


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels: dict[tuple[str, int], list] = {}
    for run in args.runs:
        config, points = series(run)
        natural = config.train.optimizer == "natural-gradient"
        colour = "tab:blue" if natural else "tab:gray"
        panels.setdefault((config.preset, config.pde.dim), []).append((run.name, colour, points))
    fig, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 4.5), squeeze=False)
    for ax, ((name, dim), lines) in zip(axes[0], panels.items()):
        for label, colour, points in lines:
            ax.plot(*zip(*points), marker=".", lw=1, alpha=0.8, color=colour, label=label)
        ref = pdes.get(name, dim=dim).reference_value
        if ref is not None:
            ax.axhline(ref, color="k", ls="--", lw=1, label=f"reference {ref:g}")
            ax.set_ylim(ref * 0.8, ref * 1.2)
        ax.set(xlabel="training wall time (s)", ylabel="u at the reference point")
        ax.set_title(f"{name}, d = {dim}", fontsize=10)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=110)
    plt.close(fig)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
