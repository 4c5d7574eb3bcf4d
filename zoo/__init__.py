"""zoo: prebuilt PDE solvers: presets, a typed trainer, checkpoints, pretrained weights,
fine-tuning and a command line (`python -m zoo`)."""

from ._checkpoint import read_metrics as read_metrics
from ._config import (
    ModelConfig as ModelConfig,
    PDESpec as PDESpec,
    RunConfig as RunConfig,
    TrainConfig as TrainConfig,
)
from ._presets import (
    DEFAULT_PRESET as DEFAULT_PRESET,
    RECIPES as RECIPES,
    Preset as Preset,
    Pretrained as Pretrained,
    build_model as build_model,
    get_preset as get_preset,
    get_pretrained as get_pretrained,
    names as names,
    pretrained_names as pretrained_names,
)
from ._published import published as published
from ._solver import (
    Solver as Solver,
    evaluate as evaluate,
    export_pretrained as export_pretrained,
    load as load,
    load_file as load_file,
)
from ._trainer import (
    CheckpointWriteWarning as CheckpointWriteWarning,
    NonFiniteLossError as NonFiniteLossError,
    RollbackWarning as RollbackWarning,
    finetune as finetune,
    fit_readouts as fit_readouts,
    resume as resume,
    train as train,
)
