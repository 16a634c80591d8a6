"""An in-process stand-in for rclpy and tf2_ros, so that the nodes' own code (constructors,
callbacks, timers, shutdown) runs where ROS cannot be installed. Every test that uses it is
marked ``fake_rclpy``; tests/ros/ runs the same nodes on real ROS.

Message classes: the real generated ones where a ROS 2 workspace is sourced, else classes built
with rosbags from the real interface definitions (our .msg/.srv/.action files and the Jazzy
types) that check field types on construction and assignment as rclpy's generated setters do.

Strict where the real system is: a node belongs to one executor (adding it to a second one
fails, and so does ``TransformListener(spin_thread=True)`` on a node that is spun elsewhere);
a subscription receives nothing from an incompatible publisher (a reliable subscriber and a
best-effort publisher, a transient-local subscriber and a volatile publisher; each mismatch is
recorded in ``Bus.incompatible``); a late subscriber gets only what transient-local publishers
kept (their last ``depth`` messages), never earlier volatile messages. Parameters must have
the declared type and lie in the descriptor's range. Delivery is synchronous under one lock
(like one executor thread); timers fire when a test calls :meth:`Bus.fire`; tf lookups go
through :class:`embodied_stack.bags.tf.TransformBuffer`.
"""

from __future__ import annotations

import enum
import sys
import threading
import types
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from conftest import HAVE_ROS
from ros_fake_types import message_types

from embodied_stack.bags.errors import TransformError
from embodied_stack.bags.tf import TransformBuffer

# -- rclpy pieces -----------------------------------------------------------------------------


class QoSEnum(enum.Enum):
    KEEP_LAST = 1
    RELIABLE = 2
    BEST_EFFORT = 3
    TRANSIENT_LOCAL = 4
    VOLATILE = 5


@dataclass
class QoSProfile:
    history: Any = QoSEnum.KEEP_LAST
    depth: int = 10
    reliability: Any = QoSEnum.RELIABLE
    durability: Any = QoSEnum.VOLATILE


def compatible(pub: QoSProfile, sub: QoSProfile) -> str | None:
    """None when a subscription with ``sub`` receives from a publisher with ``pub``, else why not
    (the DDS request-offered rules for reliability and durability)."""
    if sub.reliability == QoSEnum.RELIABLE and pub.reliability == QoSEnum.BEST_EFFORT:
        return "a reliable subscription does not receive from a best-effort publisher"
    if sub.durability == QoSEnum.TRANSIENT_LOCAL and pub.durability == QoSEnum.VOLATILE:
        return "a transient-local subscription does not receive from a volatile publisher"
    return None


class Stamp:
    """rclpy.time.Time: ``Time(seconds=, nanoseconds=)``, ``Time.from_msg``; 0 means "latest" to tf."""

    def __init__(self, *, seconds: float = 0.0, nanoseconds: int = 0) -> None:
        self.nanoseconds = int(seconds * 1e9) + int(nanoseconds)

    @classmethod
    def from_msg(cls, msg: Any) -> Stamp:
        return cls(nanoseconds=int(msg.sec) * 1_000_000_000 + int(msg.nanosec))


class Duration:
    def __init__(self, seconds: float = 0.0) -> None:
        self.seconds = seconds


class Logger:
    def __init__(self, records: list[tuple[str, str]]) -> None:
        self.records = records

    def __getattr__(self, level: str) -> Callable[..., None]:
        return lambda msg, **_kw: self.records.append((level, str(msg)))


class Future:
    def __init__(self, value: Any = None, error: BaseException | None = None) -> None:
        self._value, self._error = value, error

    def add_done_callback(self, callback: Callable[[Future], None]) -> None:
        callback(self)

    def result(self) -> Any:
        return self._value

    def exception(self) -> BaseException | None:
        return self._error


@dataclass
class GoalHandle:
    """rclpy's ServerGoalHandle: ``execute()`` runs the execute callback (here in a thread)."""

    request: Any
    server: dict[str, Any]
    feedback: list[Any] = field(default_factory=list)
    status: str = "accepted"
    is_cancel_requested: bool = False
    result: Any = None
    thread: threading.Thread | None = None

    def execute(self) -> None:
        self.status = "executing"

        def run() -> None:
            self.result = self.server["execute"](self)

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()

    def publish_feedback(self, msg: Any) -> None:
        self.feedback.append(msg)

    def _end(self, status: str) -> None:
        if self.status != "executing":
            raise RuntimeError(f"goal is {self.status}; only an executing goal can end (rclpy raises too)")
        if status == "canceled" and not self.is_cancel_requested:
            raise RuntimeError("canceled() without a cancel request (rclpy raises too)")
        self.status = status

    def succeed(self) -> None:
        self._end("succeeded")

    def abort(self) -> None:
        self._end("aborted")

    def canceled(self) -> None:
        self._end("canceled")


@dataclass
class Topic:
    """One topic: its publishers' QoS and kept messages, and its subscriptions."""

    subscribers: list[tuple[Callable[[Any], None], QoSProfile]] = field(default_factory=list)
    publishers: list[tuple[QoSProfile, deque[Any]]] = field(default_factory=list)


class Bus:
    """Topics, services, actions, timers and tf of every fake node in one test."""

    def __init__(self, overrides: dict[str, dict[str, Any]]) -> None:
        self.overrides = overrides
        self.lock = threading.RLock()
        self.topics: dict[str, Topic] = defaultdict(Topic)
        self.latched: dict[str, Any] = {}
        self.published: dict[str, list[Any]] = defaultdict(list)
        self.services: dict[str, Callable[[Any, Any], Any]] = {}
        self.service_types: dict[str, Any] = {}
        self.actions: dict[str, dict[str, Any]] = {}
        self.timers: dict[str, list[Callable[[], None]]] = defaultdict(list)
        self.logs: dict[str, list[tuple[str, str]]] = defaultdict(list)
        self.incompatible: list[tuple[str, str]] = []
        self.nav2: Callable[[Any], tuple[bool, int]] | None = None
        self.now_ns = 0

    @staticmethod
    def resolve(name: str) -> str:
        return name if name.startswith("/") else "/" + name

    def advertise(self, topic: str, qos: QoSProfile) -> deque[Any]:
        keep: deque[Any] = deque(maxlen=qos.depth if qos.durability == QoSEnum.TRANSIENT_LOCAL else 0)
        with self.lock:
            self.topics[topic].publishers.append((qos, keep))
            for _callback, sub_qos in self.topics[topic].subscribers:
                self._check(topic, qos, sub_qos)
        return keep

    def subscribe(self, topic: str, callback: Callable[[Any], None], qos: QoSProfile) -> None:
        with self.lock:
            self.topics[topic].subscribers.append((callback, qos))
            for pub_qos, keep in self.topics[topic].publishers:
                if self._check(topic, pub_qos, qos) and qos.durability == QoSEnum.TRANSIENT_LOCAL:
                    for msg in list(keep):
                        callback(msg)

    def _check(self, topic: str, pub: QoSProfile, sub: QoSProfile) -> bool:
        why = compatible(pub, sub)
        if why is not None and (topic, why) not in self.incompatible:
            self.incompatible.append((topic, why))
        return why is None

    def publish(self, topic: str, msg: Any, qos: QoSProfile | None = None, keep: deque[Any] | None = None) -> None:
        """Deliver ``msg`` to every compatible subscription (a test publishes reliable, volatile)."""
        qos = qos or QoSProfile()
        with self.lock:
            if topic == "/clock":  # the nodes run with use_sim_time
                self.now_ns = int(msg.clock.sec) * 1_000_000_000 + int(msg.clock.nanosec)
            self.published[topic].append(msg)
            if keep is not None and keep.maxlen:
                keep.append(msg)
                self.latched[topic] = msg
            for callback, sub_qos in list(self.topics[topic].subscribers):
                if self._check(topic, qos, sub_qos):
                    callback(msg)

    def fire(self, node: str) -> None:
        """Run each timer of ``node`` once (what an executor does when their periods elapse)."""
        with self.lock:
            for callback in list(self.timers[node]):
                callback()

    def send_goal(self, action: str, goal: Any) -> tuple[GoalHandle | None, threading.Thread | None]:
        """What an action client does: the goal callback decides, the accepted callback executes."""
        server = self.actions[action]
        if server["goal"](goal) != "ACCEPT":
            return None, None
        handle = GoalHandle(goal, server)
        server["accepted"](handle)
        return handle, handle.thread

    def errors(self, node: str) -> list[str]:
        return [msg for level, msg in self.logs[node] if level in ("error", "fatal")]


class FakeExecutor:
    """An executor that owns its nodes: adding a node another executor has fails (rclpy moves
    it silently, which left tf2's listener thread spinning nothing)."""

    def __init__(self, num_threads: int | None = None, *, context: Any = None) -> None:
        self.nodes: list[Any] = []
        self.shut_down = False

    def add_node(self, node: Any) -> bool:
        owner = getattr(node, "_executor", None)
        if owner is not None and owner is not self:
            raise RuntimeError(f"node {node.get_name()!r} already belongs to another executor")
        node._executor = self
        self.nodes.append(node)
        return True

    def spin_once(self, timeout_sec: float | None = None) -> None:
        for node in self.nodes:
            node._bus.fire(node.get_name())

    def shutdown(self, timeout_sec: float | None = None) -> bool:
        self.shut_down = True
        return True


def install(bus: Bus, monkeypatch: Any) -> Callable[[str], Any]:
    """Put the fake rclpy and tf2_ros (and, without ROS, fake message modules) in ``sys.modules``
    (undone by ``monkeypatch``); returns the message resolver in use."""
    resolver, message_modules = message_types()
    state = {"ok": False}

    class Node:
        def __init__(self, name: str) -> None:
            self._name = name
            self._bus = bus
            self._executor: Any = None
            self._logger = Logger(bus.logs[name])

        def get_name(self) -> str:
            return self._name

        def get_logger(self) -> Logger:
            return self._logger

        def get_clock(self) -> Any:
            return types.SimpleNamespace(now=lambda: Stamp(nanoseconds=bus.now_ns))

        def declare_parameter(self, name: str, value: Any, descriptor: Any = None) -> Any:
            given = bus.overrides.get(self._name, {}).get(name, value)
            if type(given) is not type(value) and not (isinstance(value, list) and isinstance(given, list)):
                raise TypeError(f"InvalidParameterTypeException: {name} declared {type(value).__name__}, "
                                f"got {type(given).__name__}")
            for ranges in (getattr(descriptor, "integer_range", []), getattr(descriptor, "floating_point_range", [])):
                for r in ranges or []:
                    if not r.from_value <= given <= r.to_value:
                        raise ValueError(f"InvalidParameterValueException: {name} = {given!r} is outside "
                                         f"[{r.from_value}, {r.to_value}]")
            return types.SimpleNamespace(value=given)

        def create_publisher(self, msg_type: Any, topic: str, qos: Any) -> Any:
            topic = bus.resolve(topic)
            keep = bus.advertise(topic, qos)

            def publish(msg: Any) -> None:
                if not state["ok"]:
                    raise RuntimeError("publish after rclpy shutdown: the context is invalid")
                if not isinstance(msg, msg_type):
                    raise TypeError(f"{topic}: published {type(msg).__name__}, expected {msg_type.__name__}")
                bus.publish(topic, msg, qos, keep)

            return types.SimpleNamespace(publish=publish, topic=topic)

        def create_subscription(self, msg_type: Any, topic: str, callback: Callable[[Any], None], qos: Any,
                                callback_group: Any = None) -> Any:
            bus.subscribe(bus.resolve(topic), callback, qos)
            return topic

        def create_service(self, srv_type: Any, name: str, callback: Callable[[Any, Any], Any],
                           callback_group: Any = None) -> Any:
            bus.services[bus.resolve(name)] = callback
            bus.service_types[bus.resolve(name)] = srv_type

        def create_client(self, srv_type: Any, name: str, callback_group: Any = None) -> Any:
            srv_name = bus.resolve(name)

            def call_async(request: Any) -> Future:
                with bus.lock:
                    return Future(bus.services[srv_name](request, srv_type.Response()))

            return types.SimpleNamespace(srv_name=srv_name, call_async=call_async,
                                         wait_for_service=lambda timeout_sec=None: srv_name in bus.services,
                                         remove_pending_request=lambda future: None)

        def create_timer(self, period: float, callback: Callable[[], None], callback_group: Any = None,
                         clock: Any = None) -> Any:
            bus.timers[self._name].append(callback)

        def destroy_node(self) -> None:
            bus.timers.pop(self._name, None)

    class ActionServer:
        def __init__(self, node: Any, action_type: Any, name: str, execute_callback: Any, *,
                     goal_callback: Any, cancel_callback: Any, handle_accepted_callback: Any = None,
                     callback_group: Any = None) -> None:
            bus.actions[bus.resolve(name)] = {"execute": execute_callback, "goal": goal_callback,
                                              "type": action_type,
                                              "accepted": handle_accepted_callback or (lambda h: h.execute())}

    class ActionClient:
        """nav2's NavigateToPose as ``bus.nav2(goal) -> (accepted, final GoalStatus)``, answered at once."""

        def __init__(self, node: Any, action_type: Any, name: str, callback_group: Any = None) -> None:
            self.name = bus.resolve(name)

        def wait_for_server(self, timeout_sec: float | None = None) -> bool:
            return bus.nav2 is not None

        def send_goal_async(self, goal: Any, feedback_callback: Any = None) -> Future:
            assert bus.nav2 is not None
            accepted, status = bus.nav2(goal)
            result = Future(types.SimpleNamespace(status=status, result=None))
            handle = types.SimpleNamespace(accepted=accepted, get_result_async=lambda: result,
                                           cancel_goal_async=lambda: Future())
            return Future(handle)

    class TransformException(Exception):
        pass

    class Buffer:
        def __init__(self) -> None:
            self.tf = TransformBuffer(extrapolation_tolerance_s=0.05)
            self.latest = 0.0

        def feed(self, msg: Any, static: bool) -> None:
            self.tf.add_tf_message(msg, static=static)
            if not static and msg.transforms:
                self.latest = max(self.latest, max(t.header.stamp.sec + t.header.stamp.nanosec * 1e-9
                                                   for t in msg.transforms))

        def lookup_transform(self, target: str, source: str, time: Any, timeout: Any = None) -> Any:
            t = time.nanoseconds * 1e-9 if time.nanoseconds else self.latest
            try:
                mat = self.tf.lookup(target, source, t)
            except TransformError as err:
                raise TransformException(str(err)) from err
            from embodied_stack_ros import conversions

            return conversions.transform_stamped_to_ros(mat, target, source, t)

    class TransformListener:
        """tf2_ros's listener: /tf and /tf_static subscriptions on ``node``; with ``spin_thread``
        it adds the node to its own executor, which fails once the node is spun elsewhere."""

        def __init__(self, buffer: Buffer, node: Any, *, spin_thread: bool = False, qos: Any = None,
                     static_qos: Any = None) -> None:
            node.create_subscription(None, "/tf", lambda m: buffer.feed(m, False), QoSProfile(depth=100))
            node.create_subscription(None, "/tf_static", lambda m: buffer.feed(m, True),
                                     QoSProfile(depth=100, durability=QoSEnum.TRANSIENT_LOCAL))
            if spin_thread:
                FakeExecutor().add_node(node)

    def broadcaster(topic: str, latched: bool) -> type:
        class Broadcaster:
            def __init__(self, node: Any) -> None:
                self._tf_message = resolver("tf2_msgs/msg/TFMessage")
                qos = QoSProfile(depth=1 if latched else 100,
                                 durability=QoSEnum.TRANSIENT_LOCAL if latched else QoSEnum.VOLATILE)
                self._publisher = node.create_publisher(self._tf_message, topic, qos)

            def sendTransform(self, transforms: Any) -> None:  # noqa: N802 (the tf2_ros name)
                items = transforms if isinstance(transforms, list) else [transforms]
                if latched and topic in bus.latched:
                    items = list(bus.latched[topic].transforms) + items
                self._publisher.publish(self._tf_message(transforms=items))

        return Broadcaster

    def ns(name: str, **attrs: Any) -> types.ModuleType:
        module = types.ModuleType(name)
        for key, value in attrs.items():
            setattr(module, key, value)
        return module

    def init(*, args: Any = None, signal_handler_options: Any = None) -> None:
        state["ok"] = True

    def try_shutdown() -> None:
        state["ok"] = False

    enums = dict(HistoryPolicy=QoSEnum, ReliabilityPolicy=QoSEnum, DurabilityPolicy=QoSEnum)
    fake = {
        "rclpy": ns("rclpy", init=init, try_shutdown=try_shutdown, ok=lambda: state["ok"]),
        "rclpy.node": ns("rclpy.node", Node=Node),
        "rclpy.qos": ns("rclpy.qos", QoSProfile=QoSProfile, qos_profile_sensor_data=QoSProfile(
            depth=5, reliability=QoSEnum.BEST_EFFORT), **enums),
        "rclpy.time": ns("rclpy.time", Time=Stamp),
        "rclpy.duration": ns("rclpy.duration", Duration=Duration),
        "rclpy.clock": ns("rclpy.clock", Clock=lambda clock_type=None: None,
                          ClockType=types.SimpleNamespace(STEADY_TIME=1)),
        "rclpy.signals": ns("rclpy.signals", SignalHandlerOptions=types.SimpleNamespace(NO=0, ALL=3)),
        "rclpy.action": ns("rclpy.action", ActionServer=ActionServer, ActionClient=ActionClient,
                           GoalResponse=types.SimpleNamespace(ACCEPT="ACCEPT", REJECT="REJECT"),
                           CancelResponse=types.SimpleNamespace(ACCEPT="ACCEPT", REJECT="REJECT")),
        "rclpy.callback_groups": ns("rclpy.callback_groups", MutuallyExclusiveCallbackGroup=object,
                                    ReentrantCallbackGroup=object),
        "rclpy.executors": ns("rclpy.executors", ExternalShutdownException=RuntimeError,
                              MultiThreadedExecutor=FakeExecutor, SingleThreadedExecutor=FakeExecutor),
        "rclpy.logging": ns("rclpy.logging", get_logger=lambda name: Logger(bus.logs[name])),
        "rcl_interfaces.msg": ns("rcl_interfaces.msg", ParameterDescriptor=types.SimpleNamespace,
                                 IntegerRange=types.SimpleNamespace, FloatingPointRange=types.SimpleNamespace),
        "tf2_ros": ns("tf2_ros", Buffer=Buffer, TransformListener=TransformListener,
                      TransformException=TransformException, TransformBroadcaster=broadcaster("/tf", False),
                      StaticTransformBroadcaster=broadcaster("/tf_static", True)),
    }
    fake["rclpy"].logging = fake["rclpy.logging"]
    if not HAVE_ROS:
        fake["rcl_interfaces"] = ns("rcl_interfaces", msg=fake["rcl_interfaces.msg"])
    fake.update(message_modules)
    for name, module in fake.items():
        monkeypatch.setitem(sys.modules, name, module)
    for name in [n for n in sys.modules if n.startswith("embodied_stack_ros.") and n.endswith(NODE_MODULES)]:
        monkeypatch.delitem(sys.modules, name)
    state["ok"] = True
    return resolver


NODE_MODULES = ("_node", "qos", "runtime", "nav2_navigator")
