"""The five nodes' own code, run in-process on the fakes of ros_fakes.py (no ROS here).

The whole loop runs: the simulator bridge renders a small kitchen, sensing turns frames into
observations, the memory ingests them and answers a query, the planner executes "go to the
fridge" through the policy (driven by the simulator's shortest-path oracle in place of a trained
network), and the bridge moves the robot there. Bad input to each node is answered with an
error response or a log line, never an exception. Every test here fakes rclpy (marker
``fake_rclpy``); with ROS sourced they use the real message classes, and tests/ros/ runs the
same nodes on real ROS.
"""

from __future__ import annotations

import importlib
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import START_POSE
from ros_fakes import Bus, QoSEnum, QoSProfile

from embodied_stack.policy.early_exit import ExitStats, ExitStep, ExitThresholds
from embodied_stack.sim.oracle import OracleAgent
from embodied_stack.types import Action, AgentInput, Pose2D

pytestmark = pytest.mark.fake_rclpy

LATCHED = QoSProfile(depth=1, durability=QoSEnum.TRANSIENT_LOCAL)


class OracleDrivenAgent:
    """Stands in for PolicyAgent in the node: the oracle chooses, the exit bookkeeping is real."""

    def __init__(self, navmap: Any) -> None:
        self.oracle = OracleAgent(navmap)
        self.thresholds = ExitThresholds.full(2)
        self.stats = ExitStats(2)
        self.flops = type("Flops", (), {"full_trunk": 1000})()
        self.model = type("Model", (), {"num_exits": 2})()
        self.last_step: ExitStep | None = None
        self.resets: list[str] = []

    def reset(self, instruction: str, goal_xy: np.ndarray) -> None:
        self.resets.append(instruction)
        self.oracle.reset(instruction, goal_xy)

    def act(self, inp: AgentInput) -> Action:
        assert inp.frame.rgb.ndim == 3 and inp.frame.depth.shape == inp.frame.rgb.shape[:2]
        action = self.oracle.act(inp)
        probs = np.eye(4, dtype=np.float32)[int(action)]
        self.last_step = ExitStep(int(action), probs, (0.2, 0.0), 2, (0.5,), 1000)
        self.stats.add(self.last_step, 0.001)
        return action

    def velocity_command(self) -> tuple[float, float]:
        return (0.2, 0.0)


def nodes(bus: Bus, monkeypatch: pytest.MonkeyPatch, *names: str) -> dict[str, Any]:
    built: dict[str, Any] = {}
    for name in names:
        module = importlib.import_module(f"embodied_stack_ros.{name}_node")
        if name == "policy":
            navmap = built["sim_bridge"].env.navmap
            monkeypatch.setattr(module, "load_agent", lambda *_args, navmap=navmap: OracleDrivenAgent(navmap))
        cls = next(v for k, v in vars(module).items() if k.endswith("Node") and k != "Node")
        built[name] = cls()
    return built


def spin(bus: Bus, names: tuple[str, ...], steps: int) -> None:
    for _ in range(steps):
        for name in names:
            bus.fire(name)


def call(bus: Bus, service: str, **fields: Any) -> Any:
    srv = bus.service_types[service]
    with bus.lock:
        return bus.services[service](srv.Request(**fields), srv.Response())


def test_the_full_loop_finds_the_fridge_and_drives_there(world: Bus, monkeypatch: pytest.MonkeyPatch) -> None:
    built = nodes(world, monkeypatch, "sim_bridge", "sensing", "memory", "planner", "policy")
    spin(world, ("sim_bridge", "sensing", "memory"), 4)
    assert world.published["/memory/observations"], world.logs["sensing"]
    answer = call(world, "/memory/query", query="where is the fridge?")
    assert answer.success, answer.error_message
    assert answer.hits[0].name == "fridge" and answer.hits[0].target_pose.header.frame_id == "map"
    assert np.hypot(answer.hits[0].position.x - 5.4, answer.hits[0].position.y - 4.4) < 0.5

    goal_type = world.actions["/planner/execute"]["type"]
    handle, thread = world.send_goal("/planner/execute", goal_type.Goal(instruction="go to the fridge"))
    assert handle is not None and thread is not None
    deadline = time.monotonic() + 60.0
    while thread.is_alive() and time.monotonic() < deadline:
        spin(world, ("sim_bridge", "sensing", "memory", "policy"), 1)
        time.sleep(0.002)
    thread.join(timeout=5.0)
    assert handle.status == "succeeded", (handle.result.summary if handle.result else None, world.logs["policy"])
    assert handle.result.success and handle.result.plan.subgoals[0].status == 2  # SUCCEEDED
    pose = built["sim_bridge"].env.agent_pose
    fridge = answer.hits[0].position  # the goal condition the planner checks (verify_goal, 1.5 m)
    assert math.hypot(pose.x - fridge.x, pose.y - fridge.y) <= 1.5
    assert any(fb.subgoal_feedback.status == 1 for fb in handle.feedback)  # REACHED reported
    assert world.latched["/planner/status"].state == 5  # SUCCEEDED
    assert world.latched["/planner/subgoal"].id == ""  # the policy is told to stop
    stats = world.published["/policy/exit_stats"]
    assert stats and stats[-1].exit_histogram[1] == stats[-1].steps
    assert world.latched["/memory/stats"].leaves >= 2
    assert world.latched["/memory/markers"].markers[0].action == 3
    assert "/clock" in world.published and "/tf_static" in world.latched
    for name in built:
        assert world.errors(name) == [], (name, world.errors(name))


def test_memory_node_answers_bad_requests_with_errors(world: Bus, monkeypatch: pytest.MonkeyPatch,
                                                       tmp_path: Path) -> None:
    nodes(world, monkeypatch, "memory")
    for fields, expected in (({"query": ""}, "empty"), ({"query": "fridge", "k": 5000}, "out of range"),
                             ({"query": "fridge", "kind": 17}, "unknown query kind")):
        response = call(world, "/memory/query", **fields)
        assert not response.success and expected in response.error_message
    response = call(world, "/memory/save", path="../../escape")
    assert not response.success and "outside the memory root" in response.error_message
    response = call(world, "/memory/save", path=str(tmp_path / "elsewhere"))
    assert not response.success and "outside the memory root" in response.error_message
    response = call(world, "/memory/load", path="missing")
    assert not response.success and response.stats.leaves == 0
    saved = call(world, "/memory/save", path="copies/a")
    assert saved.success and saved.path.endswith("copies/a")
    response = call(world, "/memory/query", query="where is it?", has_robot_pose=True, robot_pose=_pose_in("nowhere"))
    assert not response.success and "nowhere" in response.error_message


def _pose_in(frame: str) -> Any:
    from embodied_stack_ros import conversions

    return conversions.pose_stamped_to_ros(Pose2D(1.0, 1.0), frame, 0.0)


def test_memory_node_keeps_good_observations_and_logs_bad_ones(world: Bus, monkeypatch: pytest.MonkeyPatch) -> None:
    from embodied_stack_ros import conversions

    from embodied_stack.types.observations import Observation

    nodes(world, monkeypatch, "memory")
    msg = conversions.observations_to_ros([Observation("mug", (1.0, 2.0, 0.8)), Observation("cup", (1.0, 2.5, 0.8))], 3.0)
    msg.observations[1].position.z = math.inf
    world.publish("/memory/observations", msg)
    spin(world, ("memory",), 1)
    assert world.latched["/memory/stats"].leaves == 1 and world.latched["/memory/stats"].rejected == 1
    assert any("refused observation" in e for e in world.errors("memory"))


def test_sensing_skips_malformed_and_unlocated_frames(world: Bus, monkeypatch: pytest.MonkeyPatch) -> None:
    nodes(world, monkeypatch, "sim_bridge", "sensing")
    spin(world, ("sim_bridge",), 1)
    broken = world.published["/camera/color/image_raw"][-1]
    broken.data = broken.data[:30]
    spin(world, ("sensing",), 1)
    assert any("malformed" in e for e in world.errors("sensing"))
    spin(world, ("sim_bridge",), 1)
    image = world.published["/camera/color/image_raw"][-1]
    image.header.frame_id = "no_such_frame"
    spin(world, ("sensing",), 1)
    assert not any("no_such_frame" in msg for _level, msg in world.logs["sensing"])  # it waits for tf
    from embodied_stack_ros import conversions

    clock = conversions.ros_type("rosgraph_msgs/msg/Clock")(clock=conversions.time_to_ros(5.0))
    world.publish("/clock", clock)  # past tf_timeout_s: the frame is given up
    spin(world, ("sensing",), 1)
    assert any("no_such_frame" in msg for level, msg in world.logs["sensing"] if level == "warning")
    assert "/memory/observations" not in world.published


def test_bridge_moves_on_actions_and_velocity_and_resets(world: Bus, monkeypatch: pytest.MonkeyPatch) -> None:
    from embodied_stack_ros import conversions

    bridge = nodes(world, monkeypatch, "sim_bridge")["sim_bridge"]
    start = bridge.env.agent_pose
    world.publish("/policy/action", conversions.action_to_ros(Action.MOVE_FORWARD, "", 0.0))
    spin(world, ("sim_bridge",), 1)
    moved = bridge.env.agent_pose
    assert math.hypot(moved.x - start.x, moved.y - start.y) == pytest.approx(0.25, abs=1e-6)
    odom = world.published["/odom"][-1]
    assert odom.pose.pose.position.x == pytest.approx(moved.x) and odom.child_frame_id == "base_link"
    bad = conversions.action_to_ros(Action.STOP, "", 0.0)
    bad.action = 7
    world.publish("/policy/action", bad)
    world.publish("/cmd_vel", conversions.twist_stamped_to_ros(0.0, 1.0, "base_link", 0.0))
    spin(world, ("sim_bridge",), 2)
    assert bridge.env.agent_pose.yaw != pytest.approx(moved.yaw)
    assert any("unknown action 7" in e for e in world.errors("sim_bridge"))
    reset = call(world, "/sim/reset")
    assert reset.success and bridge.env.agent_pose.x == pytest.approx(START_POSE[0])
    clock = [m.clock.sec + m.clock.nanosec * 1e-9 for m in world.published["/clock"]]
    assert clock == sorted(clock) and clock[-1] == pytest.approx(0.3)  # three ticks of 0.1 s; reset keeps time


def test_policy_node_runs_a_real_early_exit_policy_with_velocity_output(world: Bus,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from embodied_stack_ros import conversions

    from embodied_stack.planning.types import Subgoal, SubgoalType
    from embodied_stack.policy.agent import PolicyAgent
    from embodied_stack.policy.configuration_vla import VLAConfig
    from embodied_stack.policy.modeling_vla import VLAModel
    from embodied_stack.text.embedders import load_embedder

    config = VLAConfig(image_width=32, image_height=24, vision_channels=(8, 16), hidden_size=32, num_layers=4,
                       num_attention_heads=2, num_key_value_heads=1, intermediate_size=64, exit_interval=1,
                       lstm_hidden_size=32, head_hidden_size=32)

    class NeverStops(PolicyAgent):
        """Random weights may choose STOP at once; the test is about the node, not the weights."""

        def act(self, inp: AgentInput) -> Action:
            action = super().act(inp)
            return Action.TURN_LEFT if action == Action.STOP else action

    agent = NeverStops(VLAModel(config), None, load_embedder("hash").embed)
    world.overrides["policy"].update({"output": "velocity", "max_linear_mps": 0.1})
    bridge = importlib.import_module("embodied_stack_ros.sim_bridge_node").SimBridgeNode()
    policy_module = importlib.import_module("embodied_stack_ros.policy_node")
    monkeypatch.setattr(policy_module, "load_agent", lambda *_args: agent)
    policy_module.PolicyNode()
    subgoal = Subgoal("plan_9.1", SubgoalType.NAVIGATE_TO, "fridge", target_pose=Pose2D(4.5, 3.5, 0.0), attempts=1)
    world.publish("/planner/subgoal", conversions.subgoal_to_ros(subgoal, 0.0), LATCHED)
    spin(world, ("sim_bridge", "policy"), 5)
    commands = world.published["/cmd_vel"]
    assert len(commands) == 5 and all(abs(c.twist.linear.x) <= 0.1 for c in commands)
    stats = world.published["/policy/exit_stats"][-1]
    assert (stats.num_exits, stats.exit_index, stats.steps) == (4, 4, 5)
    assert stats.trunk_flops == stats.trunk_flops_full > 0 and stats.flops_saved_ratio == 0.0
    assert sum(stats.exit_histogram) == 5 and len(stats.action_probs) == 4
    assert [f.status for f in world.published["/policy/feedback"]] == [0]  # one PROGRESS after 4 steps
    world.publish("/planner/subgoal", conversions.subgoal_to_ros(None, 1.0), LATCHED)
    assert commands[-1].twist.linear.x == 0.0 and commands[-1].twist.angular.z == 0.0
    assert bridge.env is not None and world.errors("policy") == []


@pytest.mark.parametrize(
    ("node", "overrides", "match"),
    [
        ("planner", {"candidates": 0}, "candidates"),
        ("policy", {"output": "fast"}, "output"),
        ("sim_bridge", {"scene": ""}, "scene"),
        ("sim_bridge", {"start_pose": [40.0, 40.0, 0.0]}, "navigable"),
        ("memory", {"spatial": "scene:/no/such.scene.json"}, "spatial"),
        ("memory", {"store_dir": "../outside"}, "outside the memory root"),
        ("sensing", {"detector": "owlv2:/no/model"}, "config.json"),
    ],
)
def test_invalid_parameters_stop_a_node_with_a_clear_error(world: Bus, monkeypatch: pytest.MonkeyPatch, node: str,
                                                           overrides: dict[str, Any], match: str) -> None:
    from embodied_stack_ros.errors import ParameterError

    world.overrides[node] = {**world.overrides.get(node, {}), **overrides}
    module = importlib.import_module(f"embodied_stack_ros.{node}_node")
    cls = next(v for k, v in vars(module).items() if k.endswith("Node") and k != "Node")
    with pytest.raises(ParameterError, match=match):
        cls()


def test_a_parameter_of_the_wrong_type_is_refused_like_rclpy(world: Bus, monkeypatch: pytest.MonkeyPatch) -> None:
    world.overrides["planner"] = {"query_timeout_s": 10}
    with pytest.raises(TypeError, match="InvalidParameterType"):
        nodes(world, monkeypatch, "planner")
