"""pdes: the PDE catalogue: residuals, domains and samplers, exact and reference solutions."""

from . import research as research
from ._ball import BallPDE as BallPDE
from ._base import AbstractPDE as AbstractPDE
from ._custom import CustomPDE as CustomPDE
from ._hjb import (
    HJBLQG as HJBLQG,
    BlackScholesBarenblatt as BlackScholesBarenblatt,
    HJBLin as HJBLin,
)
from ._kdv import KdV1D as KdV1D, KdV2D as KdV2D
from ._parabolic import SemilinearParabolicPDE as SemilinearParabolicPDE
from ._picard import (
    multilevel_picard as multilevel_picard,
    multilevel_picard_mean as multilevel_picard_mean,
)
from ._registry import get as get, names as names
from ._sampling import sample_ball as sample_ball, sample_sphere as sample_sphere
