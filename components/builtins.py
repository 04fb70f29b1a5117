"""The built-in generic components, re-exported (the old ``gan.core.builtins``).

Each kind lives in its own module, registered as a plugin of its own:
:mod:`~gan.components.samplers`, :mod:`~gan.components.ops`,
:mod:`~gan.components.optimizers`, :mod:`~gan.components.losses` and
:mod:`~gan.components.data`.
"""

from gan.components.data import DATA_SOURCES
from gan.components.losses import LOSSES
from gan.components.ops import (
    cat,
    flatten,
    gaussian_noise,
    interpolate,
    label_maps,
    one_hot,
    softmax,
    split,
)
from gan.components.optimizers import AdamParams, RMSpropParams, SGDParams
from gan.components.samplers import (
    CategoricalParams,
    NormalParams,
    UniformParams,
    categorical,
    normal,
    uniform,
)

__all__ = [
    "DATA_SOURCES",
    "LOSSES",
    "AdamParams",
    "CategoricalParams",
    "NormalParams",
    "RMSpropParams",
    "SGDParams",
    "UniformParams",
    "cat",
    "categorical",
    "flatten",
    "gaussian_noise",
    "interpolate",
    "label_maps",
    "normal",
    "one_hot",
    "softmax",
    "split",
    "uniform",
]
