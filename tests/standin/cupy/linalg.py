"""``cupy.linalg`` of the stand-in: NumPy's, as kernels on the current device."""

import numpy as _np

from . import _kernel

__all__ = [name for name in dir(_np.linalg) if not name.startswith("_")
           and callable(getattr(_np.linalg, name)) and not isinstance(getattr(_np.linalg, name), type)]
globals().update({name: _kernel(getattr(_np.linalg, name), name) for name in __all__})
