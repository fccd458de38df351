"""dyndnn: run dynamic DNNs (Once-for-All supernets) and switch sub-networks at run time.

    import dyndnn
    model = dyndnn.DynamicModel("models/fmnist_ofa_mbv3.dyn")
    model.set_target(latency_ms=5.0)      # the runtime manager picks the operating point per frame
    logits = model.infer(image)           # uint8 HxW(xC) image or float32 NCHW array
"""
from ._core import (Arbiter, BackendError, DynamicModel, Error, FormatError, HardwareArbiter, HardwareError,
                    InvalidArgument, IoError, OutOfMemory, Profile, RemoteArbiter, __version__, connect_arbiter, hw,
                    measure_profile, search)

__all__ = ["Arbiter", "BackendError", "DynamicModel", "Error", "FormatError", "HardwareArbiter", "HardwareError",
           "InvalidArgument", "IoError", "OutOfMemory", "Profile", "RemoteArbiter", "__version__", "connect_arbiter",
           "hw", "measure_profile", "search"]
