"""The simulated robot's tf tree: camera mount and planar velocity."""

from __future__ import annotations

import math

import numpy as np
import pytest
from embodied_stack_ros.conversions import pose2d_to_matrix
from embodied_stack_ros.sim_frames import camera_mount, planar_velocity

from embodied_stack.sim.render import camera_pose_matrix
from embodied_stack.types import Pose2D


@pytest.mark.parametrize("pitch_deg", [0.0, 20.0])
def test_camera_mount_rebuilds_the_rendered_camera_pose(pitch_deg: float) -> None:
    robot = Pose2D(2.0, -1.0, 0.7)
    T_map_optical = camera_pose_matrix(robot, 0.88, pitch_rad=math.radians(pitch_deg))
    base_link, link_optical = camera_mount(T_map_optical, robot)
    np.testing.assert_allclose(base_link[:3, 3], [0.0, 0.0, 0.88], atol=1e-12)
    np.testing.assert_allclose(pose2d_to_matrix(robot) @ base_link @ link_optical, T_map_optical, atol=1e-12)
    # camera_link looks along the robot's x axis, pitched down about its y axis
    forward = base_link[:3, 0]
    np.testing.assert_allclose(forward, [math.cos(math.radians(pitch_deg)), 0.0, -math.sin(math.radians(pitch_deg))],
                               atol=1e-12)
    np.testing.assert_allclose(link_optical[:3, 2], [1.0, 0.0, 0.0])


def test_planar_velocity() -> None:
    v, w = planar_velocity(Pose2D(0.0, 0.0, math.pi / 2), Pose2D(0.0, 0.5, math.pi / 2 + 0.2), 0.5)
    assert v == pytest.approx(1.0) and w == pytest.approx(0.4)
    v, w = planar_velocity(Pose2D(0.0, 0.0, 3.1), Pose2D(0.0, 0.0, -3.1), 1.0)
    assert v == 0.0 and w == pytest.approx(2 * math.pi - 6.2)
    assert planar_velocity(Pose2D(0.0, 0.0), Pose2D(1.0, 0.0), 0.0) == (0.0, 0.0)
