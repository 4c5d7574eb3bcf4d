"""Accuracy of every preset's recipes over PDE instances: the protocol against the best.

    python scripts/accuracy_table.py                       # two-body PDEs, d = 100, seeds 0-4
    python scripts/accuracy_table.py --presets allen-cahn-twobody --dims 100 1000
    python scripts/accuracy_table.py --presets all --dims 0 --pde-seeds 0  # every preset
    python scripts/accuracy_table.py --steps 50 --n-test 2000 --pde-seeds 0   # try it

For each preset, dimension and recipe (`zoo.Preset.recipe`: `protocol`, the published
protocol as its reference code runs it, where the preset has one; `best`, the zoo's
recommendation) it trains one run per PDE seed (`--pde-seeds`: other random instances of
the same PDE family) and reports the median and the worst relative L2 error of the final
model, the same divided by the instance's trivial fit (the best multiple of the ansatz
factor alone: what is reached without learning any structure), the minimum over
evaluations, the published figure (a mean over training seeds on ONE random instance)
and the training wall time. Instances differ a lot (the trivial fit of the two-body
family spans 0.01-0.14 at d = 1000), so compare per instance and error / trivial fit.

Runs go to `--runs/<preset>-d<dim>-<recipe>-p<pde seed>`: finished runs are reused and
interrupted ones resumed. `--presets all` runs every preset; `--dims 0` means each
preset's default dimension (the only one for fixed-dimension presets such as the KdV
equations). Presets scored at one reference point (the parabolic and HJB-LQG ones:
`zoo.Preset.evaluation == "point"`) report the relative error of u there against the
published or Monte Carlo value, and have no trivial fit. The table (markdown,
per-instance rows below the summary) and `error-vs-time.png` (each run's evaluations
against its training time) are written to `--runs` after every run.
"""

import argparse
import datetime
import json
import statistics
from pathlib import Path

import jax
from _runs import finish

import zoo

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument(
    "--presets",
    nargs="+",
    default=["allen-cahn-twobody", "poisson-twobody", "sine-gordon-twobody"],
)
parser.add_argument("--dims", nargs="+", type=int, default=[100], help="0: the preset's own")
parser.add_argument("--pde-seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
parser.add_argument("--recipes", nargs="+", choices=zoo.RECIPES, default=list(zoo.RECIPES))
parser.add_argument("--steps", type=int, help="override the recipe's steps (to try it)")
parser.add_argument("--n-test", type=int, default=20_000)
parser.add_argument("--runs", type=Path, default=Path("runs/accuracy"))
parser.add_argument("--no-progress", action="store_true")
args = parser.parse_args()


def fmt(x, spec=".2e"):
    return "–" if x is None else format(x, spec)


def error(s):
    """The run's error: rel-L2 of the field, or the relative error at the reference
    point for point-scored presets."""
    return s.get("rel_l2", s.get("rel_error"))


def ratio(s):
    trivial = s.get("trivial_rel_l2")
    return None if not trivial or error(s) is None else error(s) / trivial


def wall(s):
    """The run's training time, with its source's where it fitted the readouts of a
    network trained at another dimension (`TrainConfig.source_dim`)."""
    return s["train_time_s"] + (s.get("source_train_time_s") or 0.0)


def group_rows(summaries):
    groups = {}
    for s in summaries:
        groups.setdefault((s["preset"], s["pde"]["dim"], s["recipe"]), []).append(s)
    lines = [
        "| preset | d | recipe | seeds | error median | worst | error / trivial median | "
        "worst | published (min) | train time median |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for (name, dim, recipe), runs in groups.items():
        errs = [error(r) for r in runs]
        ratios = [ratio(r) for r in runs]
        has_ratio = None not in ratios
        pub = runs[0].get("published_rel_l2")
        lines.append(
            f"| {name} | {dim} | {recipe} | {len(runs)} | {fmt(statistics.median(errs))} "
            f"| {fmt(max(errs))} | {fmt(statistics.median(ratios) if has_ratio else None, '.3g')} "
            f"| {fmt(max(ratios) if has_ratio else None, '.3g')} | {fmt(pub)} "
            f"| {statistics.median(wall(r) for r in runs):.0f} s |"
        )
    return lines


def table(summaries) -> str:
    lines = [
        f"Accuracy of the recipes over PDE instances. Device: {jax.devices()[0]}, "
        f"{datetime.date.today().isoformat()}. Final model on {args.n_test} streamed test "
        "points (error: rel-L2 of the field; for the presets scored at one point, the "
        "relative error of u there); published: A100, mean of 5 training seeds on one "
        "random instance, minimum over evaluations.",
        "",
        *group_rows(summaries),
        "",
        "| preset | d | recipe | PDE seed | error final | min | trivial fit | error / trivial "
        "| steps | train time |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in summaries:
        lines.append(
            f"| {r['preset']} | {r['pde']['dim']} | {r['recipe']} | {r['pde']['seed']} "
            f"| {fmt(error(r))} | {fmt(r.get('rel_l2_min'))} | {fmt(r.get('trivial_rel_l2'))} "
            f"| {fmt(ratio(r), '.3g')} | {r['steps']} "
            f"| {wall(r):.0f} s |"
        )
    return "\n".join(lines) + "\n"


def plot(runs, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = sorted({(s["preset"], s["pde"]["dim"]) for s, _ in runs})
    from matplotlib.ticker import NullFormatter

    fig, axes = plt.subplots(1, len(keys), figsize=(6 * len(keys), 4.5), squeeze=False)
    colours = {"protocol": "tab:gray", "best": "tab:blue"}
    for ax, (name, dim) in zip(axes[0], keys):
        shown = set()
        for s, records in runs:
            if (s["preset"], s["pde"]["dim"]) != (name, dim):
                continue
            shown.add(s["recipe"])
            trivial = s.get("trivial_rel_l2") or 1.0
            start = wall(s) - s["train_time_s"]  # the source's time first, if any
            pts = [
                (start + r["time_s"], error(r) / trivial) for r in records if error(r) is not None
            ]
            if not pts:
                continue
            ax.plot(*zip(*pts), marker=".", color=colours[s["recipe"]], alpha=0.7, lw=1)
        for recipe, c in colours.items():
            if recipe in shown:  # no protocol entry where the preset has none
                ax.plot([], [], color=c, label=recipe)
        ax.set(
            xscale="log",
            yscale="log",
            xlabel="training wall time (s)",
            ylabel="error / trivial fit (error where there is none)",
        )
        ax.set_title(f"{name}, d = {dim}\n(one line per PDE seed)", fontsize=10)
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


summaries, curves = [], []
args.runs.mkdir(parents=True, exist_ok=True)
names = zoo.names() if args.presets == ["all"] else args.presets
for name in names:
    preset = zoo.get_preset(name)
    dims = [preset.default_dim if d == 0 or preset.fixed_dim else d for d in args.dims]
    for dim in dict.fromkeys(dims):
        for recipe in args.recipes:
            if recipe == "protocol" and not preset.has_protocol:
                continue
            model, config = preset.recipe(recipe, dim)
            config = config.replace(n_test=args.n_test)
            if args.steps is not None:
                config = config.replace(steps=args.steps, eval_every=min(1000, args.steps))
            for pde_seed in args.pde_seeds:
                run_dir = args.runs / f"{name}-d{dim}-{recipe}-p{pde_seed}"
                summary = finish(
                    run_dir,
                    name,
                    dim,
                    config,
                    pde_seed,
                    not args.no_progress,
                    recipe=recipe,
                    model=model,
                )
                summaries.append({**summary, "preset": name, "recipe": recipe})
                curves.append((summaries[-1], zoo.read_metrics(run_dir)))
                (args.runs / "accuracy.md").write_text(table(summaries))
                plot(curves, args.runs / "error-vs-time.png")
                (args.runs / "accuracy.json").write_text(json.dumps(summaries, indent=1))
print(table(summaries))
print(f"written to {args.runs}/accuracy.md and error-vs-time.png")
