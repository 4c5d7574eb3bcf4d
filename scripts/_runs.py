"""What the table-making scripts share: a long script is a list of training runs, each
finished once, so stopping and restarting the script redoes nothing that was done."""

import json
from pathlib import Path

import zoo
from zoo._checkpoint import CONFIG, stored_differences
from zoo._presets import written_config


def finish(
    run_dir: Path,
    preset: str,
    dim: int,
    config: zoo.TrainConfig,
    pde_seed: int,
    progress: bool = True,
    *,
    recipe: str = "best",
    model: zoo.ModelConfig | None = None,
) -> dict:
    """The summary of the run of `preset` at `dim` in `run_dir` once it has finished: a
    finished run is reused, an interrupted one resumed from its checkpoint, and otherwise
    `zoo.train` starts it with `config` (and `model`, default the recipe's) on the PDE
    instance `pde_seed`."""
    # The run files a finished and an interrupted run leave (docs/getting-started.md).
    summary, checkpoint = run_dir / "summary.json", run_dir / "checkpoint.eqx"
    if summary.is_file() or checkpoint.is_file():
        _check_same_run(run_dir, preset, dim, config, pde_seed, recipe, model)
    if summary.is_file():
        print(f"{run_dir}: finished, reusing")
    elif checkpoint.is_file():
        print(f"{run_dir}: resuming")
        zoo.resume(run_dir, progress=progress)
    else:
        print(f"{run_dir}: training {config.steps} steps")
        zoo.train(
            preset,
            dim,
            config=config,
            model=model,
            pde_seed=pde_seed,
            recipe=recipe,
            out=run_dir,
            progress=progress,
        )
    return json.loads(summary.read_text())


def _check_same_run(run_dir, preset, dim, config, pde_seed, recipe, model) -> None:
    """Refuse a run directory that holds another configuration's run: reusing it would
    put that run's numbers in this table (a recipe changed since, a different --steps)."""
    wanted = written_config(
        zoo.get_preset(preset).run_config(
            dim, pde_seed=pde_seed, train=config, model=model, recipe=recipe
        )
    )
    stored = json.loads((run_dir / CONFIG).read_text())
    # A rollback rewrites the stored rate and rollback count: the same run all the same;
    # a readouts' fit names the run directory of its source.
    rewritten = ("train.lr", "train.rollbacks")
    if wanted.train.source_dim is not None:
        rewritten += ("init_from",)
    differ = [
        f"{k}: {a!r} there, {b!r} here"
        for k, (a, b) in stored_differences(stored, wanted).items()
        if k not in rewritten
    ]
    if differ:
        raise SystemExit(
            f"{run_dir} holds the run of another configuration ({'; '.join(differ)}): "
            "give another --runs directory or remove that one."
        )
