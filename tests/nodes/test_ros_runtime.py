"""How every node starts and stops (runtime.run_node) and the strict parts of the rclpy stand-in:
one SIGINT stops a node with exit 0 and a zero velocity first, a second SIGINT is harmless, a
node belongs to one executor, late subscribers miss volatile messages, QoS must match. Every
test here fakes rclpy (marker ``fake_rclpy``)."""

from __future__ import annotations

import importlib
import os
import signal
import sys
import threading
from typing import Any

import pytest
from conftest import SCENE_PATH
from ros_fakes import NODE_MODULES, Bus, FakeExecutor, QoSEnum, QoSProfile, install

pytestmark = pytest.mark.fake_rclpy


@pytest.fixture()
def bus(monkeypatch: pytest.MonkeyPatch) -> Any:
    world = Bus({"sim_bridge": {"scene": str(SCENE_PATH), "width": 80, "height": 60, "start_time_s": 0.0},
                 "policy": {"agent": "policy:unused.safetensors", "output": "velocity"}})
    install(world, monkeypatch)
    from embodied_stack_ros import conversions

    conversions.set_type_resolver(None)
    yield world
    for name in [n for n in sys.modules if n.startswith("embodied_stack_ros.") and n.endswith(NODE_MODULES)]:
        del sys.modules[name]


class _Agent:
    """Just enough of a PolicyAgent for the policy node to start."""

    thresholds = type("T", (), {"max_exit": 2})()
    model = type("M", (), {"num_exits": 2})()


def test_one_sigint_stops_the_node_with_a_zero_velocity_and_a_second_is_harmless(
        bus: Bus, monkeypatch: pytest.MonkeyPatch) -> None:
    runtime = importlib.import_module("embodied_stack_ros.runtime")
    policy = importlib.import_module("embodied_stack_ros.policy_node")
    monkeypatch.setattr(policy, "load_agent", lambda *_args: _Agent())
    previous = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    try:
        timer = threading.Timer(0.3, lambda: (os.kill(os.getpid(), signal.SIGINT), os.kill(os.getpid(), signal.SIGINT)))
        timer.start()
        runtime.run_node(policy.PolicyNode, "policy")  # returns (exit code 0) instead of raising
        timer.join()
    finally:
        signal.signal(signal.SIGINT, previous[0])
        signal.signal(signal.SIGTERM, previous[1])
    commands = bus.published["/cmd_vel"]
    assert commands and commands[-1].twist.linear.x == 0.0 and commands[-1].twist.angular.z == 0.0
    assert bus.errors("policy") == []


def test_invalid_parameters_exit_with_code_1(bus: Bus) -> None:
    runtime = importlib.import_module("embodied_stack_ros.runtime")
    bus.overrides["sim_bridge"]["scene"] = ""
    bridge = importlib.import_module("embodied_stack_ros.sim_bridge_node")
    with pytest.raises(SystemExit) as exit_info:
        runtime.run_node(bridge.SimBridgeNode, "sim_bridge", stop=runtime.StopFlag())
    assert exit_info.value.code == 1 and any("scene" in e for e in bus.errors("sim_bridge"))


def test_a_node_belongs_to_one_executor(bus: Bus) -> None:
    node = importlib.import_module("rclpy.node").Node("lonely")
    FakeExecutor().add_node(node)
    with pytest.raises(RuntimeError, match="another executor"):
        FakeExecutor().add_node(node)
    tf2_ros = importlib.import_module("tf2_ros")
    with pytest.raises(RuntimeError, match="another executor"):
        tf2_ros.TransformListener(tf2_ros.Buffer(), node, spin_thread=True)


def test_late_subscribers_miss_volatile_messages_and_qos_must_match(bus: Bus) -> None:
    node = importlib.import_module("rclpy.node").Node("talker")
    volatile = node.create_publisher(object, "chatter", QoSProfile())
    latched = node.create_publisher(object, "state", QoSProfile(depth=2, durability=QoSEnum.TRANSIENT_LOCAL))
    best_effort = node.create_publisher(object, "scan", QoSProfile(reliability=QoSEnum.BEST_EFFORT))
    for i in range(3):
        volatile.publish(object())
        latched.publish(i)
    got: dict[str, list[Any]] = {"chatter": [], "state": [], "scan": []}
    node.create_subscription(None, "chatter", got["chatter"].append, QoSProfile(durability=QoSEnum.TRANSIENT_LOCAL))
    node.create_subscription(None, "state", got["state"].append, QoSProfile(durability=QoSEnum.TRANSIENT_LOCAL))
    node.create_subscription(None, "scan", got["scan"].append, QoSProfile())
    best_effort.publish(object())
    assert got["chatter"] == [] and got["state"] == [1, 2] and got["scan"] == []
    reasons = {why for _topic, why in bus.incompatible}
    assert any("best-effort" in r for r in reasons) and any("volatile publisher" in r for r in reasons)


def test_descriptors_carry_the_ranges_and_choices_of_the_specs() -> None:
    from embodied_stack_ros.params import ParamSpec, descriptor_fields

    assert descriptor_fields(ParamSpec("k", 5, "", min_value=1, max_value=100)) == {"integer_range": (1, 100)}
    assert descriptor_fields(ParamSpec("t", 0.5, "", min_value=0.0))["floating_point_range"][0] == 0.0
    assert "'policy', 'nav2'" in descriptor_fields(ParamSpec("n", "policy", "", choices=("policy", "nav2")))[
        "additional_constraints"]
    assert descriptor_fields(ParamSpec("frame", "map", "")) == {}
