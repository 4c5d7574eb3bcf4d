"""What the table-making scripts share: a long script is a list of training runs, each
finished once, so stopping and restarting the script redoes nothing that was done."""

import json
from pathlib import Path

import zoo


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
