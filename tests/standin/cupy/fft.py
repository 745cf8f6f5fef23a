"""``cupy.fft`` of the stand-in: NumPy's, as kernels on the current device."""

import numpy as _np

from . import _kernel

__all__ = [name for name in dir(_np.fft) if not name.startswith("_") and callable(getattr(_np.fft, name))]
globals().update({name: _kernel(getattr(_np.fft, name), name) for name in __all__})
