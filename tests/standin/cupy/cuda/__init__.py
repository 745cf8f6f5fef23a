"""``cupy.cuda`` of the stand-in (see ``cupy``); ``Device`` lives in ``cupy.cuda.device`` as in CuPy."""

from . import runtime
from .device import Device, Stream, get_current_stream, is_available

__all__ = ["Device", "Stream", "get_current_stream", "is_available", "runtime"]
