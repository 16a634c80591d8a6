"""Message classes by name, time and headers: what every other conversion module builds on.

Message classes are looked up by name through :func:`ros_type` (``"geometry_msgs/msg/Pose"``),
which imports the generated ROS module on first use; tests install another resolver with
:func:`set_type_resolver` (classes generated from the ``.msg`` files by ``rosbags``), so no
conversion module imports a ROS package at import time.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

__all__ = [
    "IFACE", "header_from_ros", "header_to_ros", "new_message", "ros_type", "set_type_resolver",
    "time_from_ros", "time_to_ros",
]

IFACE = "embodied_stack_interfaces"

_resolver: Callable[[str], Any] | None = None


def _import_ros_type(name: str) -> Any:
    package, kind, cls = name.split("/")
    return getattr(importlib.import_module(f"{package}.{kind}"), cls)


def ros_type(name: str) -> Any:
    """The message class called ``name`` (``"package/msg/Type"``)."""
    return (_resolver or _import_ros_type)(name)


def set_type_resolver(resolver: Callable[[str], Any] | None) -> None:
    """Use ``resolver(name) -> class`` instead of importing generated ROS modules (None: default)."""
    global _resolver
    _resolver = resolver


def new_message(type_name: str, /, **fields: Any) -> Any:
    """An instance of ``type_name`` built with keyword arguments (as rclpy's setters check them)."""
    return ros_type(type_name)(**fields)


def time_to_ros(t_s: float) -> Any:
    """Seconds (>= 0) -> ``builtin_interfaces/Time``, rounded to the nanosecond."""
    total_ns = int(round(float(t_s) * 1e9))
    if total_ns < 0:
        raise ValueError(f"time must be >= 0 s, got {t_s}")
    return new_message("builtin_interfaces/msg/Time", sec=total_ns // 1_000_000_000,
                       nanosec=total_ns % 1_000_000_000)


def time_from_ros(msg: Any) -> float:
    return int(msg.sec) + int(msg.nanosec) * 1e-9


def header_to_ros(frame_id: str, stamp_s: float) -> Any:
    return new_message("std_msgs/msg/Header", stamp=time_to_ros(stamp_s), frame_id=str(frame_id))


def header_from_ros(msg: Any) -> tuple[str, float]:
    """``(frame_id, stamp seconds)``."""
    return str(msg.frame_id), time_from_ros(msg.stamp)
