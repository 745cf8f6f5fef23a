"""``cupy.cuda.device`` of the stand-in: devices, the per-thread current device, streams."""

from __future__ import annotations

from . import runtime


class Device:
    """A CUDA device by integer id; ``with Device(1):`` makes it current for the block.

    As ``cupy/cuda/device.pyx``: ``Device(None)`` is the current device, any other argument goes
    through ``int()`` (so ``Device("cuda:1")`` raises ``ValueError``), equality is by id and there
    is no ``__hash__``: ``hash(Device(0))`` raises ``TypeError``.
    """

    __hash__ = None

    def __init__(self, device=None):
        self.id = runtime.getDevice() if device is None else int(device)
        if not 0 <= self.id < runtime.getDeviceCount():
            raise runtime.CUDARuntimeError("cudaErrorInvalidDevice: invalid device ordinal")
        self._stack = []

    def __int__(self):
        return self.id

    def __enter__(self):
        self._stack.append(runtime.getDevice())
        runtime.setDevice(self.id)
        return self

    def __exit__(self, *exc):
        runtime.setDevice(self._stack.pop())

    def use(self):
        runtime.setDevice(self.id)

    def synchronize(self):
        from .. import counters

        counters.sync("Device.synchronize")

    def __eq__(self, other):
        return isinstance(other, Device) and self.id == other.id

    def __ne__(self, other):
        return not self == other

    def __repr__(self):
        return f"<CUDA Device {self.id}>"

    def __reduce__(self):  # CuPy pickles a Device by id
        return (Device, (self.id,))


class Stream:
    def __init__(self, non_blocking=False):
        pass

    def synchronize(self):
        from .. import counters

        counters.sync("Stream.synchronize")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        pass

    def use(self):
        return self


Stream.null = Stream()


def get_current_stream():
    return Stream.null


def is_available():
    return runtime.getDeviceCount() > 0

