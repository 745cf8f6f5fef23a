"""``cupy.cuda.runtime`` of the stand-in: the device count and the per-thread current device."""

import os
import threading

_local = threading.local()


class CUDARuntimeError(RuntimeError):
    pass


def getDeviceCount():  # noqa: N802  (CUDA's name)
    return int(os.environ.get("CUPY_STANDIN_DEVICES", "2"))


def getDevice():  # noqa: N802
    return getattr(_local, "device", 0)  # CUDA's current device is per host thread


def setDevice(device):  # noqa: N802
    _local.device = int(device)


def deviceSynchronize():  # noqa: N802
    from .. import counters

    counters.sync("deviceSynchronize")


def getDeviceProperties(device):  # noqa: N802
    return {"name": b"CuPy stand-in (NumPy on the CPU)", "totalGlobalMem": 0}
