"""stde: stochastic Taylor derivative estimators for high-dimensional, high-order operators."""

from . import planning as planning, reference as reference
from ._ansatz import (
    AbstractAnsatz as AbstractAnsatz,
    BallAnsatz as BallAnsatz,
    EvolvedInitialValueAnsatz as EvolvedInitialValueAnsatz,
    InitialValueAnsatz as InitialValueAnsatz,
    NoAnsatz as NoAnsatz,
    TerminalValueAnsatz as TerminalValueAnsatz,
)
from ._estimate import Evaluation as Evaluation, estimate as estimate, evaluate as evaluate
from ._estimators import (
    AbstractEstimator as AbstractEstimator,
    DenseSTDE as DenseSTDE,
    Exact as Exact,
    SparseSTDE as SparseSTDE,
)
from ._operators import (
    AbstractAtom as AbstractAtom,
    AbstractOperator as AbstractOperator,
    Biharmonic as Biharmonic,
    DiagonalDerivative as DiagonalDerivative,
    Laplacian as Laplacian,
    LinearCombination as LinearCombination,
    Partial as Partial,
)
from ._taylor import rules as rules
from ._taylor.base import AbstractTaylorEngine as AbstractTaylorEngine
from ._taylor.collapsed import TaylorEngine as TaylorEngine
from ._taylor.jet import JetEngine as JetEngine
