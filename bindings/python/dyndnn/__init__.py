"""dyndnn: run dynamic DNNs (Once-for-All supernets) and switch sub-networks at run time."""
from ._core import DynamicModel, Error, __version__

__all__ = ["DynamicModel", "Error", "__version__"]
