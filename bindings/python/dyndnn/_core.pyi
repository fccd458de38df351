"""Type stubs of dyndnn's compiled module (dyndnn._core)."""
from typing import Any, Dict, List, Optional, Sequence, Union

import numpy as np
import numpy.typing as npt

__version__: str

Config = Dict[str, Union[int, List[int]]]
"""A sub-network as a dict of its family's knobs, scalars broadcast: OFA-MobileNetV3 {"ks", "e", "d", "r"},
group_cnn {"g"}, elastic_vit {"d", "w", "h", "m"}."""

HardwareState = Dict[str, int]
"""Knob name -> level, e.g. {"threads": 2} or {"cpufreq.policy0": 1190400}."""


class Error(RuntimeError):
    """Base of dyndnn's errors; each message says what, where and what to do."""

class FormatError(Error, ValueError):
    """A malformed package (.dyn): the message names the file and the field."""

class InvalidArgument(Error, ValueError):
    """A value the library cannot accept (config, operating point, input, option, target)."""

class IoError(Error, OSError):
    """A file that cannot be opened, mapped or read."""

class HardwareError(Error, OSError):
    """A hardware knob or sensor that cannot be read or written."""

class BackendError(Error):
    """LibTorch or oneDNN failed inside a call; the message names the call and the backend's words."""

class OutOfMemory(Error, MemoryError):
    """Memory ran out inside a call (a plan being built, a tensor); the message says what to lower."""


class Profile:
    """Latency and power per operating point x hardware state."""
    device: str
    model: str
    def __init__(self) -> None: ...
    @staticmethod
    def load(path: str) -> "Profile": ...
    def save(self, path: str) -> None: ...
    def to_json(self) -> str: ...
    @property
    def entries(self) -> List[Dict[str, Any]]: ...
    def add(self, op: str, hw: HardwareState, latency_ms: float, latency_std_ms: float = 0.0,
            accuracy: float = 0.0, macs: float = 0.0, power_w: float = 0.0) -> None: ...
    def __len__(self) -> int: ...


class DynamicModel:
    """A dynamic DNN: one shared-weight supernet and its operating points."""
    def __init__(self, path: str, threads: int = 0, device: str = "cpu", verify_checksum: bool = True,
                 backend: str = "auto") -> None:
        """Load a .dyn package. ValueError for a malformed package, OSError when it cannot be read."""
    @property
    def operating_points(self) -> List[Dict[str, Any]]:
        """name, config, bn_stats, macs, params, accuracy (percent or None) of each stored operating point."""
    def set_subnet(self, name_or_config: Union[str, Config]) -> None:
        """Switch now (blocks until prepared). Suspends the runtime manager until the next set_target()."""
    def request_subnet(self, name_or_config: Union[str, Config]) -> None:
        """Switch asynchronously; infer() serves the current sub-network until the new one is ready."""
    @property
    def switch_pending(self) -> bool: ...
    @property
    def last_switch_error(self) -> str: ...
    @property
    def backend(self) -> str: ...
    @property
    def plan_cache_stats(self) -> Dict[str, int]: ...
    def set_plan_cache_budget(self, bytes: int) -> None: ...
    def export_subnet(self, name_or_config: Union[str, Config], path: str) -> None:
        """Write one sub-network as a static package (its graph and only its tensors); loads like any package."""
    @property
    def active_config(self) -> Config: ...
    @property
    def active_name(self) -> str: ...
    def cost(self, config: Config) -> Dict[str, int]: ...
    @property
    def num_classes(self) -> int: ...
    @property
    def input_channels(self) -> int: ...
    @property
    def resolutions(self) -> List[int]: ...
    def infer(self, array: Union[npt.NDArray[np.float32], npt.NDArray[np.uint8]]) -> npt.NDArray[np.float32]:
        """Logits [N, classes] for float32 NCHW/CHW input or a uint8 HxW(xC) image. The GIL is released."""
    def set_target(self, *, latency_ms: Optional[float] = None, fps: Optional[float] = None,
                   min_accuracy: Optional[float] = None, power_w: Optional[float] = None,
                   objective: str = "most_accuracy", confidence: float = 0.95) -> None:
        """Hand control to the runtime manager ("most_accuracy" or "least_energy" for what is left free)."""
    def set_runtime(self, *, profile: Union[None, str, Profile] = None, governor: Optional["hw.Governor"] = None,
                    threads: Optional[Sequence[int]] = None, warmup: int = 3, runs: int = 10,
                    arbiter: Optional["Arbiter"] = None, name: str = "", priority: int = 0,
                    placements: Sequence[HardwareState] = (), exclusive_knob: str = "") -> None:
        """Install the manager's profile (or measure one over `threads`) and an optional governor; with `arbiter`,
        join it as `name` with `priority` and alternative `placements` (exclusive on `exclusive_knob`)."""
    @property
    def managed(self) -> bool: ...
    def runtime_stats(self) -> Dict[str, Any]: ...
    def runtime_trace(self) -> List[Dict[str, Any]]: ...
    def write_trace(self, path: str) -> None: ...
    @property
    def profile(self) -> Optional[Profile]: ...


def measure_profile(model: DynamicModel, threads: Optional[Sequence[int]] = None, warmup: int = 5, runs: int = 30,
                    governor: Optional["hw.Governor"] = None,
                    states: Optional[Sequence[HardwareState]] = None) -> Profile:
    """Latency of every operating point on each thread count (default: the model's) or hardware state."""


def search(package: str, out: str, *, data: str, points: int = 8, budget_minutes: float = 10.0,
           max_candidates: int = 0, threads: Sequence[int] = (1,), calibration_data: str = "",
           calibration_images: int = 2000, screen_calibration_images: int = 500, screen_images: int = 2000,
           evaluation_images: int = 0, backend: str = "auto", resolutions: Sequence[int] = (), seed: int = 0,
           eval_threads: int = 0, resume: bool = True,
           progress: Optional[Any] = None) -> Dict[str, Any]:
    """Operating points for a supernet on this device and the caller's data (`dyndnn search`): writes `out`,
    OUT.candidates.json and the resumable OUT.search.json; returns the report (the CLI's --json)."""


class Arbiter:
    """What models that share the device join: a HardwareArbiter (this process) or a RemoteArbiter (dyndnnd)."""


class HardwareArbiter(Arbiter):
    """One per process; models sharing the device join it through DynamicModel.set_runtime(arbiter=...)."""
    def __init__(self, governor: Optional["hw.Governor"] = None) -> None: ...
    def rearbitrate(self) -> None: ...
    def granted(self, name: str) -> HardwareState: ...
    def __len__(self) -> int: ...


class RemoteArbiter(Arbiter):
    """The device's dyndnnd: models in several processes join it as they join a HardwareArbiter."""
    @property
    def socket(self) -> str: ...


def connect_arbiter(socket: str = "/run/dyndnn.sock") -> RemoteArbiter:
    """A RemoteArbiter for the dyndnnd listening on `socket`; OSError (dyndnn.HardwareError) when none does."""


class hw:  # submodule dyndnn.hw
    class Governor:
        @property
        def name(self) -> str: ...
        @property
        def knobs(self) -> List[Dict[str, Any]]: ...
        def apply(self, state: HardwareState) -> None: ...
        def current(self) -> HardwareState: ...
        def applied(self) -> HardwareState: ...
        def restore(self) -> None: ...
        @property
        def simulated(self) -> bool: ...

    @staticmethod
    def make_governor(root: str = "/", state_file: str = "") -> "hw.Governor": ...
    @staticmethod
    def make_affinity_governor(root: str = "/") -> "hw.Governor": ...
    @staticmethod
    def make_simulated_governor(platform: str = "xavier_nx") -> "hw.Governor": ...
    @staticmethod
    def restore_from_state_file(state_file: str) -> int: ...
    @staticmethod
    def detect(root: str = "/") -> Dict[str, Any]: ...
