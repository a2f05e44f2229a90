"""nst: neural style transfer (Gatys et al. 2015) for painters.

>>> import nst
>>> result = nst.stylize("photo.png", ["painting.jpg"], {"quality": "draft", "seed": 1})
"""

from nst.engine import Progress, stylize
from nst.errors import (
    Cancelled,
    ImageError,
    NSTError,
    NumericalError,
    OutOfMemory,
    ParamsError,
    WeightsError,
)
from nst.params import PRESETS, Params

__version__ = "0.1.0"

__all__ = [
    "Cancelled",
    "ImageError",
    "NSTError",
    "NumericalError",
    "OutOfMemory",
    "PRESETS",
    "Params",
    "ParamsError",
    "Progress",
    "WeightsError",
    "stylize",
    "__version__",
]
