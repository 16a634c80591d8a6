"""An in-process stand-in for rclpy, tf2_ros and the ROS 2 message packages, so that the nodes'
own code (constructors, callbacks, timers) runs in CI where ROS cannot be installed.

It implements exactly the rclpy API the nodes use, with rclpy's behaviour where it matters:
message classes built from the real interface definitions (our .msg/.srv/.action files and the
Jazzy types, via rosbags) that check field types on construction and assignment as rclpy's
generated setters do; parameters whose override must have the declared type; latched topics
delivered to late subscribers; tf lookups through :class:`embodied_stack.bags.tf.TransformBuffer`.
Delivery is synchronous under one lock (like a single-threaded executor); timers fire when a
test calls :meth:`Bus.fire`. tests/ros/ runs the same nodes on real ROS where it exists.
"""

from __future__ import annotations

import enum
import sys
import threading
import types
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from conftest import RosbagsMessages, build_typestore
from rosbags.typesys import get_types_from_msg

from embodied_stack.bags.errors import TransformError
from embodied_stack.bags.tf import TransformBuffer

TRIGGER = {"std_srvs/msg/Trigger_Request": "", "std_srvs/msg/Trigger_Response": "bool success\nstring message"}


class FakeMessage:
    """Base of the generated message classes (keyword construction, checked assignment)."""

    __msgtype__ = ""
    _registry: RosbagsMessages
    _fields: dict[str, Any] = {}

    def __init__(self, **kwargs: Any) -> None:
        unknown = set(kwargs) - set(self._fields)
        if unknown:
            raise TypeError(f"Invalid arguments passed to constructor of {self.__msgtype__}: {sorted(unknown)}")
        for name, spec in self._fields.items():
            setattr(self, name, kwargs[name] if name in kwargs else self._registry.default(spec))

    def __setattr__(self, name: str, value: Any) -> None:
        if name not in self._fields:
            raise AttributeError(f"{self.__msgtype__} has no field {name!r}")
        self._registry.check(value, self._fields[name], f"{self.__msgtype__}.{name}")
        object.__setattr__(self, name, value)

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and all(getattr(self, f) == getattr(other, f) for f in self._fields)

    def __repr__(self) -> str:
        return f"{self.__msgtype__}({', '.join(f'{f}={getattr(self, f)!r}' for f in self._fields)})"


class FakeTypes(RosbagsMessages):
    """name -> generated FakeMessage subclass (cached)."""

    def __init__(self) -> None:
        store = build_typestore()
        store.register({k: v for name, text in TRIGGER.items() for k, v in get_types_from_msg(text, name).items()})
        super().__init__(store)
        self._classes: dict[str, type] = {}

    def __call__(self, name: str) -> Any:  # type: ignore[override]
        if name not in self._classes:
            consts, fields = self.store.fielddefs[name]
            attrs = {"__msgtype__": name, "_registry": self, "_fields": dict(fields)}
            attrs.update({c[0]: c[2] for c in consts})
            self._classes[name] = type(name.rsplit("/", 1)[-1], (FakeMessage,), attrs)
        return self._classes[name]

    def modules(self) -> dict[str, types.ModuleType]:
        """Fake ``pkg.msg`` / ``pkg.srv`` / ``pkg.action`` modules of every registered type."""
        mods: dict[str, types.ModuleType] = {}

        def module(name: str) -> types.ModuleType:
            if name not in mods:
                mods[name] = types.ModuleType(name)
                parent = name.rsplit(".", 1)[0]
                if parent != name:
                    setattr(module(parent), name.rsplit(".", 1)[1], mods[name])
            return mods[name]

        for name in self.store.fielddefs:
            package, _, cls = name.split("/")
            for suffixes, kind in ((("_Request", "_Response"), "srv"), (("_Goal", "_Result", "_Feedback"), "action")):
                base = next((cls[: -len(s)] for s in suffixes if cls.endswith(s)), None)
                if base is not None:
                    holder = getattr(module(f"{package}.{kind}"), base, None) or type(base, (), {})
                    setattr(holder, cls[len(base) + 1:], self(name))
                    setattr(module(f"{package}.{kind}"), base, holder)
            setattr(module(f"{package}.msg"), cls, self(name))
        return mods


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


@dataclass
class Stamp:
    nanoseconds: int = 0

    @classmethod
    def from_msg(cls, msg: Any) -> Stamp:
        return cls(int(msg.sec) * 1_000_000_000 + int(msg.nanosec))


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
    request: Any
    feedback: list[Any] = field(default_factory=list)
    status: str = "executing"
    is_cancel_requested: bool = False
    result: Any = None

    def publish_feedback(self, msg: Any) -> None:
        self.feedback.append(msg)

    def succeed(self) -> None:
        self.status = "succeeded"

    def abort(self) -> None:
        self.status = "aborted"

    def canceled(self) -> None:
        self.status = "canceled"


class Bus:
    """Topics, services, actions, timers and tf of every fake node in one test."""

    def __init__(self, overrides: dict[str, dict[str, Any]]) -> None:
        self.overrides = overrides
        self.lock = threading.RLock()
        self.subscribers: dict[str, list[Callable[[Any], None]]] = defaultdict(list)
        self.latched: dict[str, Any] = {}
        self.published: dict[str, list[Any]] = defaultdict(list)
        self.services: dict[str, Callable[[Any, Any], Any]] = {}
        self.service_types: dict[str, Any] = {}
        self.actions: dict[str, dict[str, Any]] = {}
        self.timers: dict[str, list[Callable[[], None]]] = defaultdict(list)
        self.logs: dict[str, list[tuple[str, str]]] = defaultdict(list)
        self.now_ns = 0

    @staticmethod
    def resolve(name: str) -> str:
        return name if name.startswith("/") else "/" + name

    def publish(self, topic: str, msg: Any, latched: bool) -> None:
        with self.lock:
            if topic == "/clock":  # the nodes run with use_sim_time
                self.now_ns = int(msg.clock.sec) * 1_000_000_000 + int(msg.clock.nanosec)
            self.published[topic].append(msg)
            if latched:
                self.latched[topic] = msg
            for callback in list(self.subscribers[topic]):
                callback(msg)

    def fire(self, node: str) -> None:
        """Run each timer of ``node`` once (what an executor does when their periods elapse)."""
        with self.lock:
            for callback in list(self.timers[node]):
                callback()

    def send_goal(self, action: str, goal: Any) -> tuple[GoalHandle | None, threading.Thread | None]:
        server = self.actions[action]
        if server["goal"](goal) != "ACCEPT":
            return None, None
        handle = GoalHandle(goal)
        thread = threading.Thread(target=lambda: setattr(handle, "result", server["execute"](handle)), daemon=True)
        thread.start()
        return handle, thread

    def errors(self, node: str) -> list[str]:
        return [msg for level, msg in self.logs[node] if level in ("error", "fatal")]


def install(bus: Bus, fake_types: FakeTypes, monkeypatch: Any) -> None:
    """Put the fake ROS modules in ``sys.modules`` (undone by ``monkeypatch``)."""
    class Node:
        def __init__(self, name: str) -> None:
            self._name = name
            self._logger = Logger(bus.logs[name])

        def get_name(self) -> str:
            return self._name

        def get_logger(self) -> Logger:
            return self._logger

        def get_clock(self) -> Any:
            return types.SimpleNamespace(now=lambda: Stamp(bus.now_ns))

        def declare_parameter(self, name: str, value: Any, descriptor: Any = None) -> Any:
            given = bus.overrides.get(self._name, {}).get(name, value)
            if type(given) is not type(value) and not (isinstance(value, list) and isinstance(given, list)):
                raise TypeError(f"InvalidParameterTypeException: {name} declared {type(value).__name__}, "
                                f"got {type(given).__name__}")
            return types.SimpleNamespace(value=given)

        def create_publisher(self, msg_type: Any, topic: str, qos: Any) -> Any:
            topic = bus.resolve(topic)
            latched = getattr(qos, "durability", None) == QoSEnum.TRANSIENT_LOCAL

            def publish(msg: Any) -> None:
                if not isinstance(msg, msg_type):
                    raise TypeError(f"{topic}: published {type(msg).__name__}, expected {msg_type.__name__}")
                bus.publish(topic, msg, latched)

            return types.SimpleNamespace(publish=publish, topic=topic)

        def create_subscription(self, msg_type: Any, topic: str, callback: Callable[[Any], None], qos: Any,
                                callback_group: Any = None) -> Any:
            topic = bus.resolve(topic)
            bus.subscribers[topic].append(callback)
            if topic in bus.latched:
                callback(bus.latched[topic])
            return topic

        def create_service(self, srv_type: Any, name: str, callback: Callable[[Any, Any], Any]) -> Any:
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
        def __init__(self, node: Any, action_type: Any, name: str, execute_callback: Any, goal_callback: Any,
                     cancel_callback: Any, callback_group: Any = None) -> None:
            bus.actions[bus.resolve(name)] = {"execute": execute_callback, "goal": goal_callback, "type": action_type}

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
        def __init__(self, buffer: Buffer, node: Any, spin_thread: bool = False) -> None:
            node.create_subscription(None, "/tf", lambda m: buffer.feed(m, False), None)
            node.create_subscription(None, "/tf_static", lambda m: buffer.feed(m, True), None)

    def broadcaster(topic: str, latched: bool) -> type:
        class Broadcaster:
            def __init__(self, node: Any) -> None:
                self._tf_message = fake_types("tf2_msgs/msg/TFMessage")

            def sendTransform(self, transforms: Any) -> None:  # noqa: N802 (the tf2_ros name)
                items = transforms if isinstance(transforms, list) else [transforms]
                if latched and topic in bus.latched:
                    items = list(bus.latched[topic].transforms) + items
                bus.publish(topic, self._tf_message(transforms=items), latched)

        return Broadcaster

    def ns(name: str, **attrs: Any) -> types.ModuleType:
        module = types.ModuleType(name)
        for key, value in attrs.items():
            setattr(module, key, value)
        return module

    enums = dict(HistoryPolicy=QoSEnum, ReliabilityPolicy=QoSEnum, DurabilityPolicy=QoSEnum)
    fake = {
        "rclpy": ns("rclpy", init=lambda args=None: None, try_shutdown=lambda: None),
        "rclpy.node": ns("rclpy.node", Node=Node),
        "rclpy.qos": ns("rclpy.qos", QoSProfile=QoSProfile, qos_profile_sensor_data=QoSProfile(
            depth=5, reliability=QoSEnum.BEST_EFFORT), **enums),
        "rclpy.time": ns("rclpy.time", Time=Stamp),
        "rclpy.duration": ns("rclpy.duration", Duration=Duration),
        "rclpy.clock": ns("rclpy.clock", Clock=lambda clock_type=None: None,
                          ClockType=types.SimpleNamespace(STEADY_TIME=1)),
        "rclpy.action": ns("rclpy.action", ActionServer=ActionServer,
                           GoalResponse=types.SimpleNamespace(ACCEPT="ACCEPT", REJECT="REJECT"),
                           CancelResponse=types.SimpleNamespace(ACCEPT="ACCEPT", REJECT="REJECT")),
        "rclpy.callback_groups": ns("rclpy.callback_groups", MutuallyExclusiveCallbackGroup=object,
                                    ReentrantCallbackGroup=object),
        "rclpy.executors": ns("rclpy.executors", ExternalShutdownException=RuntimeError,
                              MultiThreadedExecutor=object, SingleThreadedExecutor=object),
        "rclpy.logging": ns("rclpy.logging", get_logger=lambda name: Logger(bus.logs[name])),
        "tf2_ros": ns("tf2_ros", Buffer=Buffer, TransformListener=TransformListener,
                      TransformException=TransformException, TransformBroadcaster=broadcaster("/tf", False),
                      StaticTransformBroadcaster=broadcaster("/tf_static", True)),
    }
    fake["rclpy"].logging = fake["rclpy.logging"]
    fake.update(fake_types.modules())
    for name, module in fake.items():
        monkeypatch.setitem(sys.modules, name, module)
    for name in [n for n in sys.modules if n.startswith("embodied_stack_ros.") and n.endswith(("_node", "qos", "runtime"))]:
        monkeypatch.delitem(sys.modules, name)
