"""Record simulator runs as ROS 2 bags: what a real robot's ``ros2 bag record`` would hold.

Per rendered frame (simulated time ``t``, ``step_period_s`` apart): ``/clock``; ``/tf`` with
``odom -> base_link`` (the agent's planar pose, on the floor under the camera); ``/odom``
(``nav_msgs/Odometry``, twist from the pose change); the colour image (``rgb8``), the depth image
registered to it (``32FC1`` metres or ``16UC1`` millimetres), the CameraInfo and, optionally,
the simulator's instance-id image (``32SC1``). Once at the start: ``/tf_static`` with
``map -> odom`` (identity: the simulator's odometry does not drift), ``base_link ->
camera_link`` (the rigid camera mount) and ``camera_link -> <optical frame>`` (REP-103 optical
rotation), and the instance table as JSON on a latched ``std_msgs/String`` topic, so the
semantic-sensor backend can re-perceive the bag.
A per-frame hook may return memory nodes to draw as a MarkerArray.
Frames: REP-105 (``map``, ``odom``, ``base_link``); z up; the optical frame is z forward,
x right, y down.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from embodied_stack.bags.errors import BagConfigError, BagError
from embodied_stack.bags.messages import MarkerNode
from embodied_stack.bags.tf import invert_transforms, transform_matrix
from embodied_stack.bags.writer import BagWriter
from embodied_stack.sim.env import Env
from embodied_stack.types import Action, Agent, AgentInput, Frame, InstanceInfo, Pose2D

INSTANCE_TABLE_FORMAT = "embodied-stack.instances/1"
# T_link_optical: optical x = -link y, optical y = -link z, optical z = link x (REP-103).
T_LINK_OPTICAL = np.array(
    [[0.0, 0.0, 1.0, 0.0], [-1.0, 0.0, 0.0, 0.0], [0.0, -1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]]
)


@dataclass(frozen=True)
class RecordConfig:
    """Topic and frame names and the clock of a recording (the names a RealSense-style driver uses).

    ``camera_height_m``: the camera's height above the floor, to put ``base_link`` on the floor
    (default: the simulator's ``config.camera_height_m``, else the first frame's camera height).
    """

    rgb_topic: str = "/camera/color/image_raw"
    depth_topic: str = "/camera/aligned_depth_to_color/image_raw"
    info_topic: str = "/camera/color/camera_info"
    instance_topic: str | None = "/camera/instance/image_raw"
    instance_table_topic: str = "/sim/instances"
    odom_topic: str = "/odom"
    markers_topic: str = "/memory/markers"
    map_frame: str = "map"
    odom_frame: str = "odom"
    base_frame: str = "base_link"
    camera_frame: str = "camera_link"
    optical_frame: str = "camera_color_optical_frame"
    depth_encoding: str = "32FC1"
    camera_height_m: float | None = None
    step_period_s: float = 0.25
    episode_gap_s: float = 1.0
    start_time_s: float = 1.0
    max_steps: int = 500

    def __post_init__(self) -> None:
        if self.depth_encoding not in ("32FC1", "16UC1"):
            raise BagConfigError(f"depth_encoding must be 32FC1 or 16UC1, got {self.depth_encoding!r}")
        for name in ("step_period_s", "episode_gap_s", "start_time_s"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0.0) or (name == "step_period_s" and value == 0.0):
                raise BagConfigError(f"{name} must be finite and >= 0 (> 0 for step_period_s), got {value!r}")
        if self.max_steps < 1:
            raise BagConfigError(f"max_steps must be >= 1, got {self.max_steps}")


@dataclass(frozen=True)
class EpisodeRun:
    """One run to record: where the agent starts, where it should go, what it is told.

    ``goal`` (optional) is the episode's goal region, handed to agents that take one
    (``set_goal``, the privileged oracle) after ``reset``.
    """

    id: str
    start: Pose2D
    goal_xy: np.ndarray
    instruction: str = ""
    goal: Any = None


@dataclass
class RecordStats:
    """What a recording holds: per-episode steps and whether the agent stopped by itself."""

    frames: int = 0
    episodes: list[dict[str, Any]] = field(default_factory=list)
    start_s: float = 0.0
    end_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "frames": self.frames,
            "episodes": len(self.episodes),
            "duration_s": round(self.end_s - self.start_s, 6),
            "per_episode": self.episodes,
        }


def pose2d_matrix(pose: Pose2D) -> np.ndarray:
    """``T_map_base`` (4x4) of a planar pose: translation (x, y, 0), rotation yaw about +z."""
    half = 0.5 * pose.yaw
    return transform_matrix((pose.x, pose.y, 0.0), (0.0, 0.0, math.sin(half), math.cos(half)))


def instance_table_json(instances: dict[int, InstanceInfo], categories: Iterable[str]) -> str:
    """The simulator's instance table as JSON (``embodied-stack.instances/1``)."""
    rows = [
        {"id": int(k), "object_id": v.object_id, "category": v.category, "room": v.room}
        for k, v in sorted(instances.items())
    ]
    return json.dumps({"format": INSTANCE_TABLE_FORMAT, "categories": list(categories), "instances": rows})


def instance_table_from_json(text: str, *, where: str = "instance table") -> tuple[dict[int, InstanceInfo], list[str]]:
    """Parse :func:`instance_table_json` output; raises :class:`BagError` naming the fault."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise BagError(f"{where}: not valid JSON ({err.msg})") from err
    if not isinstance(data, dict) or data.get("format") != INSTANCE_TABLE_FORMAT:
        raise BagError(f"{where}: expected a JSON object with format {INSTANCE_TABLE_FORMAT!r}")
    try:
        table = {
            int(row["id"]): InstanceInfo(int(row["id"]), str(row["object_id"]), str(row["category"]), row.get("room"))
            for row in data.get("instances", [])
        }
        categories = [str(c) for c in data.get("categories", [])]
    except (KeyError, TypeError, ValueError) as err:
        raise BagError(f"{where}: malformed instance row ({err}); expected id, object_id, category") from err
    return table, categories


FrameHook = Callable[[Frame, float], Iterable[MarkerNode] | None]


class SimRecorder:
    """Drives an :class:`Env` with an :class:`Agent` and writes every frame to a bag.

    Args:
        writer: an open :class:`BagWriter`.
        env: the simulator.
        config: topic/frame names and clock.
        on_frame: optional hook called with each frame and its stamp (s); when it returns
            nodes, they are written as a MarkerArray on ``config.markers_topic``.
    """

    def __init__(self, writer: BagWriter, env: Env, config: RecordConfig | None = None,
                 on_frame: FrameHook | None = None) -> None:
        self.writer, self.env = writer, env
        self.config = config or RecordConfig()
        self.on_frame = on_frame
        self.stats = RecordStats()
        self._t = self.config.start_time_s
        self._started = False
        self._previous: Pose2D | None = None
        self._camera_height_m = 0.0
        self._t_base_optical = np.eye(4)

    def _base_pose(self, frame: Frame) -> np.ndarray:
        """``T_odom_base``: the planar pose at floor height (camera height below the camera)."""
        mat = pose2d_matrix(frame.agent_pose)
        mat[2, 3] = frame.camera_pose[2, 3] - self._camera_height_m
        return mat

    def _start(self, frame: Frame) -> None:
        cfg = self.config
        height = cfg.camera_height_m
        if height is None:
            height = getattr(getattr(self.env, "config", None), "camera_height_m", None)
        self._camera_height_m = float(frame.camera_pose[2, 3] if height is None else height)
        self._t_base_optical = invert_transforms(self._base_pose(frame)) @ frame.camera_pose
        t_base_link = self._t_base_optical @ invert_transforms(T_LINK_OPTICAL)
        self.writer.write_transforms(
            [
                (cfg.map_frame, cfg.odom_frame, np.eye(4)),
                (cfg.base_frame, cfg.camera_frame, t_base_link),
                (cfg.camera_frame, cfg.optical_frame, T_LINK_OPTICAL),
            ],
            self._t,
            static=True,
        )
        if cfg.instance_topic:
            self.writer.write_string(
                cfg.instance_table_topic, instance_table_json(self.env.instances, self.env.categories), self._t
            )
        self.stats.start_s = self._t
        self._started = True

    def write_frame(self, frame: Frame) -> None:
        """Write one frame at the current simulated time and advance the clock one step."""
        cfg, w, t = self.config, self.writer, self._t
        if not self._started:
            self._start(frame)
        t_odom_base = self._base_pose(frame)
        mount = invert_transforms(t_odom_base) @ frame.camera_pose
        if not np.allclose(mount, self._t_base_optical, atol=1e-6):
            raise BagError(
                f"the camera moved relative to base_link at t={t:.3f} s (recorded as a static "
                f"mount); expected {self._t_base_optical.round(6).tolist()}, got {mount.round(6).tolist()}"
            )
        w.write_clock(t)
        w.write_transforms([(cfg.odom_frame, cfg.base_frame, t_odom_base)], t)
        linear, angular = self._twist(frame.agent_pose)
        w.write_odometry(cfg.odom_topic, t_odom_base, t, cfg.odom_frame, cfg.base_frame, linear, angular)
        w.write_rgb(cfg.rgb_topic, frame.rgb, t, cfg.optical_frame)
        w.write_depth(cfg.depth_topic, frame.depth, t, cfg.optical_frame, cfg.depth_encoding)
        w.write_camera_info(cfg.info_topic, frame.intrinsics, t, cfg.optical_frame)
        if cfg.instance_topic and frame.instance is not None:
            w.write_labels(cfg.instance_topic, frame.instance, t, cfg.optical_frame)
        if self.on_frame is not None:
            nodes = self.on_frame(frame, t)
            if nodes is not None:
                w.write_markers(cfg.markers_topic, nodes, t, cfg.map_frame)
        self.stats.frames += 1
        self.stats.end_s = t
        self._t += cfg.step_period_s

    def _twist(self, pose: Pose2D) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
        """Body-frame velocity (m/s, rad/s) from the change since the previous frame."""
        previous, self._previous = self._previous, pose
        if previous is None:
            return (0.0, 0.0, 0.0), (0.0, 0.0, 0.0)
        dt = self.config.step_period_s
        dx, dy = pose.x - previous.x, pose.y - previous.y
        c, s = math.cos(previous.yaw), math.sin(previous.yaw)
        dyaw = (pose.yaw - previous.yaw + math.pi) % (2.0 * math.pi) - math.pi
        return ((c * dx + s * dy) / dt, (-s * dx + c * dy) / dt, 0.0), (0.0, 0.0, dyaw / dt)

    def record_episode(self, run: EpisodeRun, agent: Agent) -> dict[str, Any]:
        """Reset at ``run.start``, act until STOP or ``max_steps``, writing every frame."""
        frame = self.env.reset(run.start)
        self._previous = None
        agent.reset(run.instruction, run.goal_xy)
        if run.goal is not None and hasattr(agent, "set_goal"):
            agent.set_goal(run.goal)
        steps, stopped, collisions = 0, False, 0
        while True:
            self.write_frame(frame)
            if steps >= self.config.max_steps:
                break
            action = agent.act(AgentInput(frame, frame.agent_pose, run.goal_xy, run.instruction, steps))
            if action == Action.STOP:
                stopped = True
                break
            result = self.env.step(action)
            frame, steps = result.frame, steps + 1
            collisions += int(result.collided)
        final = frame.agent_pose
        summary = {
            "id": run.id,
            "steps": steps,
            "stopped": stopped,
            "collisions": collisions,
            "final_distance_m": round(float(np.hypot(*(final.xy - np.asarray(run.goal_xy, float)[:2]))), 4),
        }
        self.stats.episodes.append(summary)
        self._t += self.config.episode_gap_s
        return summary
