"""Shared helpers of the bag tests: where the third-party bags live, and message stand-ins."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
TURTLEBOT_MCAP = DATA / "rosbag2_evo_nav2_turtlebot" / "nav2_turtlebot.mcap"
ALLTYPES = DATA / "rosbag2_rosbags_rs_alltypes"
ALLTYPES_BAGS = (ALLTYPES / "test_bag_mcap", ALLTYPES / "test_bag_sqlite3")
ARUCO_BAG = DATA / "rosbag1_fiducials_aruco_images" / "aruco_images.bag"


def need(path: Path) -> Path:
    """Skip the test when a shared data file is absent (it is never copied into the repo)."""
    if not path.exists():
        pytest.skip(f"shared test data not found: {path}")
    return path


def image(height: int, width: int, encoding: str, step: int, data: bytes | np.ndarray,
          is_bigendian: int = 0) -> SimpleNamespace:
    """A stand-in for a deserialised sensor_msgs/Image (any object with its fields decodes)."""
    return SimpleNamespace(height=height, width=width, encoding=encoding, step=step,
                           data=data, is_bigendian=is_bigendian)


def stamp(t_s: float) -> SimpleNamespace:
    ns = int(round(t_s * 1e9))
    return SimpleNamespace(sec=ns // 1_000_000_000, nanosec=ns % 1_000_000_000)


def transform_stamped(parent: str, child: str, t_s: float, xyz, q_xyzw) -> SimpleNamespace:
    """A stand-in for geometry_msgs/TransformStamped."""
    return SimpleNamespace(
        header=SimpleNamespace(stamp=stamp(t_s), frame_id=parent),
        child_frame_id=child,
        transform=SimpleNamespace(
            translation=SimpleNamespace(x=xyz[0], y=xyz[1], z=xyz[2]),
            rotation=SimpleNamespace(x=q_xyzw[0], y=q_xyzw[1], z=q_xyzw[2], w=q_xyzw[3]),
        ),
    )
