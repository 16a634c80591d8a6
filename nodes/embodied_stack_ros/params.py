"""Parameters of every node: declared with a default and a description, validated before use.

Each node has node-level parameters (frames, rates, timeouts, backend specs) listed here, plus
one parameter per field of the configuration dataclass it wraps (``PerceptionConfig``,
``MemoryConfig``, ``PlannerConfig``, ``SimConfig``, and the policy node's ``DriverConfig``), with
the same names: the dataclass's ``__post_init__`` validates those, so the rules live in one place. Parameters are read-only
(a change needs a restart), which keeps the nodes free of half-applied reconfiguration.

This module imports rclpy only inside :func:`declare_parameters`; the specs and the
validation are plain Python and are tested without ROS (and against ``launch/params/*.yaml``).
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import inspect
import math
import textwrap
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from embodied_stack_ros.errors import ParameterError

ParamValue = bool | int | float | str | list[bool] | list[int] | list[float] | list[str]


@dataclass(frozen=True)
class ParamSpec:
    """One ROS parameter: name, default (which fixes its type), description and simple bounds."""

    name: str
    default: ParamValue
    description: str
    choices: tuple[str, ...] = ()
    min_value: float | None = None
    max_value: float | None = None
    prefix_choices: bool = False  # choices are prefixes ("owlv2:" accepts "owlv2:/models/owl")

    def validate(self, value: Any, node: str) -> ParamValue:
        """Return ``value`` coerced to this parameter's type, or raise :class:`ParameterError`."""
        where = f"{node}: parameter '{self.name}'"
        value = _coerce(value, self.default, where)
        if self.choices and isinstance(value, str):
            ok = any(value.startswith(c) if c.endswith(":") and self.prefix_choices else value == c for c in self.choices)
            if not ok:
                raise ParameterError(f"{where} is {value!r}; expected one of {list(self.choices)}")
        numbers = value if isinstance(value, list) else [value]
        for number in numbers:
            if isinstance(number, (int, float)) and not isinstance(number, bool):
                if self.min_value is not None and not number >= self.min_value:
                    raise ParameterError(f"{where} is {value!r}; expected >= {self.min_value}")
                if self.max_value is not None and not number <= self.max_value:
                    raise ParameterError(f"{where} is {value!r}; expected <= {self.max_value}")
        return value


def _coerce(value: Any, default: ParamValue, where: str) -> ParamValue:
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ParameterError(f"{where} is {value!r}; expected true or false")
        return value
    if isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ParameterError(f"{where} is {value!r}; expected an integer")
        return value
    if isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(float(value)):
            raise ParameterError(f"{where} is {value!r}; expected a number")
        return float(value)
    if isinstance(default, str):
        if not isinstance(value, str):
            raise ParameterError(f"{where} is {value!r}; expected a string")
        return value
    if not isinstance(value, (list, tuple)):
        raise ParameterError(f"{where} is {value!r}; expected a list")
    item_default: ParamValue = default[0] if default else ""
    return [_coerce(v, item_default, f"{where}[{i}]") for i, v in enumerate(value)]  # type: ignore[misc]


def field_docs(cls: type) -> dict[str, str]:
    """Attribute docstrings of a dataclass (the string literal under a field), by field name."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    except (OSError, TypeError, SyntaxError):
        return {}
    body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
    docs: dict[str, str] = {}
    for stmt, after in zip(body, body[1:], strict=False):
        if (isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name)
                and isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant)
                and isinstance(after.value.value, str)):
            docs[stmt.target.id] = " ".join(after.value.value.split())
    return docs


def _ros_default(value: Any, hint: Any, where: str) -> ParamValue:
    if value is None:
        if str not in typing.get_args(hint) and hint is not str:
            raise TypeError(f"{where}: a None default needs a 'str | None' field to map to a ROS parameter")
        return ""
    if isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)) and value:
        return [_ros_default(v, type(v), where) for v in value]  # type: ignore[return-value]
    raise TypeError(f"{where}: default {value!r} has no ROS parameter type (empty lists have none)")


def config_params(
    cls: type, *, exclude: Sequence[str] = (), defaults: Mapping[str, ParamValue] | None = None
) -> tuple[ParamSpec, ...]:
    """One :class:`ParamSpec` per field of the configuration dataclass ``cls``.

    ``defaults`` replaces the dataclass default of some fields (the node's own default).
    Optional string fields map ``None`` to ``""``.
    """
    hints = typing.get_type_hints(cls)
    docs = field_docs(cls)
    specs = []
    for f in dataclasses.fields(cls):
        if f.name in exclude or not f.init:
            continue
        if defaults and f.name in defaults:
            default = defaults[f.name]
        elif f.default is not dataclasses.MISSING:
            default = _ros_default(f.default, hints[f.name], f"{cls.__name__}.{f.name}")
        elif f.default_factory is not dataclasses.MISSING:
            default = _ros_default(f.default_factory(), hints[f.name], f"{cls.__name__}.{f.name}")
        else:
            raise TypeError(f"{cls.__name__}.{f.name} has no default; a ROS parameter needs one")
        description = docs.get(f.name) or f"{cls.__name__}.{f.name} (see {cls.__module__})"
        specs.append(ParamSpec(f.name, default, description))
    return tuple(specs)


def config_from_params(cls: type, values: Mapping[str, Any], node: str) -> Any:
    """Build ``cls`` from parameter values (its fields only); its validation errors become
    :class:`ParameterError` naming the node."""
    hints = typing.get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.name not in values or not f.init:
            continue
        value = values[f.name]
        if value == "" and type(None) in typing.get_args(hints[f.name]):
            value = None
        elif isinstance(value, list):
            value = tuple(value)
        kwargs[f.name] = value
    try:
        return cls(**kwargs)
    except (ValueError, TypeError) as err:
        raise ParameterError(f"{node}: {err}") from err


def validate_values(specs: Sequence[ParamSpec], values: Mapping[str, Any], node: str) -> dict[str, ParamValue]:
    """Validate every parameter (missing ones take their default)."""
    return {s.name: s.validate(values.get(s.name, s.default), node) for s in specs}


INT64_MAX = 2**63 - 1
FLOAT_MAX = 1.7976931348623157e308


def descriptor_fields(spec: ParamSpec) -> dict[str, Any]:
    """What the ``ParameterDescriptor`` of ``spec`` says beyond its description: the range of a
    scalar number (``integer_range`` / ``floating_point_range`` as ``(from, to)``; an open side
    is the type's limit) and the choices of a string (``additional_constraints``)."""
    fields: dict[str, Any] = {}
    bounded = spec.min_value is not None or spec.max_value is not None
    if bounded and isinstance(spec.default, int) and not isinstance(spec.default, bool):
        low = int(spec.min_value) if spec.min_value is not None else -INT64_MAX - 1
        high = int(spec.max_value) if spec.max_value is not None else INT64_MAX
        fields["integer_range"] = (low, high)
    elif bounded and isinstance(spec.default, float):
        low_f = float(spec.min_value) if spec.min_value is not None else -FLOAT_MAX
        high_f = float(spec.max_value) if spec.max_value is not None else FLOAT_MAX
        fields["floating_point_range"] = (low_f, high_f)
    if spec.choices:
        kind = "starts with one of" if spec.prefix_choices else "one of"
        shown = ", ".join(repr(c) for c in spec.choices)
        fields["additional_constraints"] = f"{kind} {shown}"
    return fields


def declare_parameters(node: Any, specs: Sequence[ParamSpec]) -> dict[str, ParamValue]:
    """Declare ``specs`` on an rclpy node and return the validated values.

    Each descriptor is read-only, carries the description, and the range or choices that
    :class:`ParamSpec` knows (:func:`descriptor_fields`), so ``ros2 param describe`` shows them
    and rclpy refuses an out-of-range override itself.
    """
    from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor

    values = {}
    for spec in specs:
        extra = descriptor_fields(spec)
        descriptor = ParameterDescriptor(description=spec.description, read_only=True,
                                         additional_constraints=extra.get("additional_constraints", ""))
        if "integer_range" in extra:
            low, high = extra["integer_range"]
            descriptor.integer_range = [IntegerRange(from_value=low, to_value=high, step=0)]
        if "floating_point_range" in extra:
            low_f, high_f = extra["floating_point_range"]
            descriptor.floating_point_range = [FloatingPointRange(from_value=low_f, to_value=high_f, step=0.0)]
        values[spec.name] = node.declare_parameter(spec.name, spec.default, descriptor).value
    return validate_values(specs, values, node.get_name())


def _lazy(module: str, name: str) -> Callable[[], type]:
    return lambda: getattr(importlib.import_module(module), name)


# Core configuration dataclass wrapped by each node (module, class), imported on demand.
NODE_CONFIGS: dict[str, Callable[[], type]] = {
    "sensing": _lazy("embodied_stack.perception.config", "PerceptionConfig"),
    "memory": _lazy("embodied_stack.memory.config", "MemoryConfig"),
    "planner": _lazy("embodied_stack.planning.planner", "PlannerConfig"),
    "sim_bridge": _lazy("embodied_stack.sim.embedded", "SimConfig"),
    "policy": _lazy("embodied_stack_ros.subgoal_driver", "DriverConfig"),
}

FRAMES = (
    ParamSpec("map_frame", "map", "Global frame (REP-105) of observations, memory hits and target poses."),
)
ROBOT_FRAME = ParamSpec("robot_frame", "base_link", "The robot's body frame (REP-105), looked up in tf from map_frame.")

NODE_PARAMS: dict[str, tuple[ParamSpec, ...]] = {
    "sensing": FRAMES + (
        ParamSpec("detector", "sim:realistic",
                  "Detector backend: 'sim:PRESET' (the simulated detector on the simulator's instance image: "
                  "misses, label confusion, false positives, no instance ids; presets clean, realistic, hard), "
                  "'semantic' (the simulator's ground-truth instance table: an oracle, for ablations only), "
                  "'owlv2:DIR' (an OWLv2 model saved in DIR, prompted with `vocabulary`) or 'vision_msgs' "
                  "(the robot's own detector: vision_msgs/Detection2DArray on `detections_2d`, lifted to 3D "
                  "with the depth image).",
                  choices=("sim:clean", "sim:realistic", "sim:hard", "semantic", "owlv2:", "vision_msgs"),
                  prefix_choices=True),
        ParamSpec("detector_seed", 0, "Seed of the simulated detector's error draws.", min_value=0,
                  max_value=2**31 - 1),
        ParamSpec("embedder", "default", "Text embedder (loaded offline) that compares labels in fusion and "
                  "types rooms from their objects: 'default' (all-MiniLM-L6-v2) or any embedder spec."),
        ParamSpec("rooms_file", "", "Where to write the robot's own rooms (a RoomMap .npz: its floor plan from "
                  "depth at the tf pose, segmented at doorways, rooms typed from the confirmed tracks) for "
                  "the memory node's `spatial: rooms:FILE`; '' = build no map."),
        ParamSpec("rooms_period_s", 20.0, "How often the rooms are segmented, typed and written (s).",
                  min_value=0.5, max_value=3600.0),
        ParamSpec("camera_height_m", 0.88, "Height of the camera above the floor (m): splits depth points into "
                  "floor, furniture and walls for the robot's map.", min_value=0.05, max_value=3.0),
        ParamSpec("robot_radius_m", 0.18, "Robot radius (m): navigable cells of the robot's map keep this "
                  "clearance.", min_value=0.0, max_value=2.0),
        ParamSpec("detections_3d", False, "Also subscribe to `detections_3d` (vision_msgs/Detection3DArray, "
                  "boxes in any tf frame) and forward them as observations in map_frame."),
        ParamSpec("vocabulary", ["chair", "table", "sofa", "bed", "refrigerator", "sink", "toilet", "tv"],
                  "Category names the open-vocabulary detector looks for."),
        ParamSpec("captioner", "template",
                  "Captioner: 'template' (\"a white fridge, kitchen\") or 'blip:DIR' (a BLIP model in DIR).",
                  choices=("template", "blip:"), prefix_choices=True),
        ParamSpec("sync_tolerance_s", 0.05, "Largest stamp difference of a colour and a depth image paired "
                  "into one frame (s).", min_value=0.0, max_value=1.0),
        ParamSpec("tf_timeout_s", 0.5, "How long a frame waits for the camera pose in tf at its stamp before "
                  "it is dropped (s); the node never blocks on tf.", min_value=0.0, max_value=5.0),
        ParamSpec("republish_period_s", 2.0, "Re-publish every confirmed track's current state this often (s), "
                  "so that a memory started (or restarted) later still gets what is in view; 0 = never.",
                  min_value=0.0, max_value=3600.0),
        ParamSpec("max_rate_hz", 5.0, "Frames processed per second at most; frames in between are dropped (Hz).",
                  min_value=0.1, max_value=100.0),
    ),
    "memory": FRAMES + (
        ParamSpec("store_dir", "default", "Store directory under memory_root, opened (or created) at start "
                  "and written after every ingested batch; '' keeps the memory in RAM only."),
        ParamSpec("spatial", "", "Navigable map and rooms, for reachable target poses and room-aware clusters: "
                  "'rooms:FILE.npz' (the robot's own rooms, written by the sensing node's `rooms_file`; read "
                  "again whenever the file changes, none until it exists), 'map:FILE.yaml' (a map_server "
                  "occupancy map), 'scene:FILE' (a scene/1 file: the simulator's true navigable map and rooms, "
                  "an oracle for ablations only), or '' for none.",
                  choices=("", "rooms:", "scene:", "map:"), prefix_choices=True),
        ParamSpec("spatial_reload_s", 5.0, "With 'rooms:', how often to check the rooms file for a newer "
                  "version (s).", min_value=0.1, max_value=3600.0),
        ParamSpec("rooms_file", "", "With 'map:', a scene/1 file whose room polygons name the rooms; '' segments "
                  "rooms from the map."),
        ParamSpec("robot_radius_m", 0.18, "Robot radius for the navigable map (m).", min_value=0.0, max_value=2.0),
        ParamSpec("default_k", 5, "Hits returned when a QueryMemory request has k = 0.", min_value=1, max_value=1000),
        ParamSpec("max_k", 100, "Largest k a QueryMemory request may ask for.", min_value=1, max_value=1000),
        ParamSpec("markers_period_s", 1.0, "Least time between two MarkerArray updates of the forest (s).",
                  min_value=0.05, max_value=600.0),
        ParamSpec("max_marker_leaves", 2000, "Leaves drawn in RViz at most (the most recently seen first).",
                  min_value=0, max_value=100000),
    ),
    "planner": FRAMES + (
        ROBOT_FRAME,
        ParamSpec("query_timeout_s", 10.0, "How long to wait for memory/query (s).", min_value=0.1, max_value=600.0),
        ParamSpec("subgoal_timeout_s", 180.0, "A subgoal without a final report from the policy for this long "
                  "is reported as FAILED and replanned (s).", min_value=1.0, max_value=86400.0),
        ParamSpec("wait_for_memory_s", 30.0, "How long a goal waits for the memory/query service to appear (s).",
                  min_value=0.0, max_value=600.0),
        ParamSpec("navigator", "policy", "Who drives NAVIGATE_TO subgoals: 'policy' (the policy node, over "
                  "planner/subgoal) or 'nav2' (nav2's NavigateToPose action on `nav2_action`); EXPLORE and "
                  "SEARCH subgoals run the planner's own search (`search`).", choices=("policy", "nav2")),
        ParamSpec("search", "memory", "How EXPLORE and SEARCH subgoals look for what the memory lacks: 'memory' "
                  "(memory-guided object search over the robot's own depth map, the one `run task` and the demo "
                  "use; the planner drives with policy/action and perceives through memory/observations), "
                  "'frontier' (nearest frontier first, the baseline) or 'off' (the policy node turns in place).",
                  choices=("memory", "frontier", "off")),
        ParamSpec("search_steps", 600, "Action budget of one search.", min_value=1, max_value=100000),
        ParamSpec("search_step_timeout_s", 5.0, "Longest wait for the camera frame after a search action (s).",
                  min_value=0.1, max_value=600.0),
        ParamSpec("camera_height_m", 0.88, "Height of the camera above the floor (m), for the search's depth map.",
                  min_value=0.05, max_value=5.0),
        ParamSpec("nav2_action", "navigate_to_pose", "NavigateToPose action server used when navigator is 'nav2'."),
        ParamSpec("verify_goal", True, "A task succeeds only when its goal holds: after the last navigation, the "
                  "memory must hold an object of the target's category within success_distance_m of the robot."),
        ParamSpec("success_distance_m", 1.5, "Largest distance from the robot to the target object for a "
                  "navigation task to count as done (m).", min_value=0.1, max_value=20.0),
    ),
    "policy": FRAMES + (
        ROBOT_FRAME,
        ParamSpec("agent", "", "The policy: 'policy:CHECKPOINT' (a .safetensors checkpoint, run with torch) or "
                  "'onnx:DIR[?precision=int8&providers=cuda,cpu]' (per-exit ONNX segments exported to DIR, run "
                  "with onnxruntime). Required.",
                  choices=("", "policy:", "onnx:"), prefix_choices=True),
        ParamSpec("budget", "", "Average trunk-compute budget per step ('0.2' of the full trunk, '5x' fewer "
                  "FLOPs, '40M' FLOPs, or 'full'); '' uses the thresholds calibrated into the agent."),
        ParamSpec("max_exit", 0, "Peak cap: the deepest exit any step may reach; 0 = no cap.", min_value=0,
                  max_value=255),
        ParamSpec("embedder", "", "Text embedder for the subgoal text; '' = the agent's default (the memory's "
                  "all-MiniLM-L6-v2, or the ONNX embedder exported with an onnx: agent)."),
        ParamSpec("output", "discrete", "'discrete': publish policy/action (DiscreteAction) for the simulator; "
                  "'velocity': publish cmd_vel from the velocity head for a real base.",
                  choices=("discrete", "velocity")),
        ParamSpec("cmd_vel_stamped", True, "Velocity output as geometry_msgs/TwistStamped (Jazzy's "
                  "diff_drive_controller); false: plain geometry_msgs/Twist."),
        ParamSpec("control_rate_hz", 4.0, "Policy steps per second (Hz).", min_value=0.1, max_value=100.0),
        ParamSpec("max_linear_mps", 0.5, "Velocity output: forward speed limit (m/s).", min_value=0.0, max_value=5.0),
        ParamSpec("max_angular_radps", 1.0, "Velocity output: turn rate limit (rad/s).", min_value=0.0,
                  max_value=10.0),
        ParamSpec("sensor_timeout_s", 1.0, "A camera image older than this is not acted on (s).", min_value=0.05,
                  max_value=60.0),
    ),
    "sim_bridge": FRAMES + (
        ParamSpec("scene", "", "Scene file (embodied-stack.scene/1 JSON) to simulate; required."),
        ParamSpec("start_pose", [0.0, 0.0, 0.0], "Start pose x, y (m), yaw (rad) in map; ignored when "
                  "use_start_pose is false (then the simulator picks a navigable start)."),
        ParamSpec("use_start_pose", False, "Start at start_pose instead of the simulator's default start."),
        ParamSpec("rate_hz", 10.0, "Render-and-publish rate in simulated time (Hz).", min_value=0.1,
                  max_value=200.0),
        ParamSpec("real_time_factor", 1.0, "Simulated seconds per wall-clock second.", min_value=0.01,
                  max_value=100.0),
        ParamSpec("publish_clock", True, "Publish /clock (run the other nodes with use_sim_time:=true)."),
        ParamSpec("cmd_vel_timeout_s", 0.5, "A velocity command older than this is treated as zero (s).",
                  min_value=0.0, max_value=10.0),
        ParamSpec("cmd_vel_stamped", True, "cmd_vel is geometry_msgs/TwistStamped; false: plain Twist."),
        ParamSpec("start_time_s", -1.0, "Simulated time of the first tick (s); -1 = the wall-clock time at "
                  "start, so that a memory store kept across runs never sees time go back.",
                  min_value=-1.0, max_value=1e10),
        ParamSpec("explore", False, "Drive the robot with the frontier explorer whenever no policy action or "
                  "velocity command arrived for explore_idle_s, so that the memory fills on its own."),
        ParamSpec("explore_idle_s", 2.0, "Quiet time after the last policy action or cmd_vel before the explorer "
                  "drives again (s).", min_value=0.0, max_value=600.0),
        ParamSpec("odom_frame", "odom", "Odometry frame (REP-105); map -> odom is the identity here."),
        ParamSpec("base_frame", "base_link", "Robot body frame (REP-105)."),
        ParamSpec("camera_frame", "camera_link", "Camera body frame (x forward, z up)."),
        ParamSpec("optical_frame", "camera_color_optical_frame", "Camera optical frame (z forward, x right, "
                  "y down); the frame of the images."),
        ParamSpec("depth_encoding", "32FC1", "Depth image encoding: '32FC1' (m) or '16UC1' (mm).",
                  choices=("32FC1", "16UC1")),
    ),
}

# Node-level defaults that differ from the core dataclass defaults.
CONFIG_DEFAULTS: dict[str, dict[str, ParamValue]] = {
    "memory": {"memory_root": "~/.ros/embodied_stack"},
}


def node_param_specs(node: str) -> tuple[ParamSpec, ...]:
    """All parameters of ``node``: its own, then its core configuration's (same names)."""
    own = NODE_PARAMS[node]
    if node not in NODE_CONFIGS:
        return own
    taken = {s.name for s in own}
    return own + config_params(NODE_CONFIGS[node](), exclude=tuple(taken), defaults=CONFIG_DEFAULTS.get(node))
