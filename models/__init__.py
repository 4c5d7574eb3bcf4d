"""models: field networks, hard-constraint ansatzes and STDE operator layers (Equinox)."""

from ._ansatz import Constrained as Constrained
from ._base import AbstractEmbedding as AbstractEmbedding, AbstractField as AbstractField
from ._embeddings import (
    Embedded as Embedded,
    FourierFeatures as FourierFeatures,
    PeriodicEmbedding as PeriodicEmbedding,
    SquaredNorm as SquaredNorm,
    WithRadial as WithRadial,
)
from ._finetune import (
    freeze_labels as freeze_labels,
    output_bias as output_bias,
    trainable_spec as trainable_spec,
    zero_last as zero_last,
)
from ._mlp import (
    MLP as MLP,
    ResidualMLP as ResidualMLP,
    SharedMLP as SharedMLP,
    WindowMLP as WindowMLP,
)
from ._operator_layer import (
    AbstractOperatorLayer as AbstractOperatorLayer,
    OperatorLayer as OperatorLayer,
    SumLayer as SumLayer,
)
from ._serialisation import load as load, read_header as read_header, save as save
