"""Simulation: the embedded simulator bridge, sensing, memory, planner and policy, and RViz.

    ros2 launch embodied_stack_ros sim.launch.py agent:=policy:/path/to/policy.safetensors rviz:=true
    ros2 launch embodied_stack_ros sim.launch.py agent:=onnx:/path/to/export scene:=/path/to/office.scene.json

Every node takes `params_file` (defaults documented in params/embodied_stack.yaml); the
other nodes run on the simulator's /clock (`use_sim_time`), the bridge on its own clock. The
robot explores on its own (`explore:=true`) whenever no task drives it, and the memory starts
empty in RAM on every run unless `store_dir` names a store under `memory_root`.

Nothing from the scene file reaches the memory (the no-oracle path of `eval memory`): sensing runs
the simulated detector with realistic errors (`detector: sim:realistic` in the params file), builds
the robot's own floor plan from depth at its tf pose and writes the rooms it segments and types
from what it saw to `<memory_root>/robot_rooms.npz`; the memory reads them from there
(`spatial: rooms:FILE`). The simulator's true map and rooms (`spatial: scene:FILE`) are an
oracle for ablations only: pass a params file that sets them.
"""

from launch.actions import DeclareLaunchArgument
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.descriptions import ParameterValue
from launch_ros.substitutions import FindPackageShare

from launch import LaunchDescription

PACKAGE = "embodied_stack_ros"
DEFAULT_SCENE = "home_0001.scene.json"  # one of the scenes shipped in sim/scenes
ROOMS_FILE = "robot_rooms.npz"  # the robot's own rooms: written by sensing, read by memory


def generate_launch_description() -> LaunchDescription:
    share = FindPackageShare(PACKAGE)
    namespace = LaunchConfiguration("namespace")
    params_file = LaunchConfiguration("params_file")
    sim_time = {"use_sim_time": ParameterValue(LaunchConfiguration("use_sim_time"), value_type=bool)}

    def node(executable: str, *overrides: dict) -> Node:
        return Node(package=PACKAGE, executable=executable, name=executable, namespace=namespace,
                    parameters=[params_file, sim_time, *overrides], output="screen", emulate_tty=True)

    return LaunchDescription([
        DeclareLaunchArgument("namespace", default_value="",
                              description="Namespace of every node and of their relative topics and services."),
        DeclareLaunchArgument("use_sim_time", default_value="true",
                              description="Run sensing, memory, planner, policy and RViz on the simulator's /clock."),
        DeclareLaunchArgument("params_file", default_value=PathJoinSubstitution([share, "params", "embodied_stack.yaml"]),
                              description="YAML file with the parameters of every node."),
        DeclareLaunchArgument("scene", default_value=PathJoinSubstitution([share, "scenes", DEFAULT_SCENE]),
                              description="Scene to simulate: an embodied-stack.scene/1 JSON file (or habitat:CONFIG.yaml); "
                                          "default: a shipped home."),
        DeclareLaunchArgument("agent", default_value="",
                              description="Policy (required): policy:CHECKPOINT.safetensors or onnx:EXPORT_DIR."),
        DeclareLaunchArgument("explore", default_value="true",
                              description="Explore with the frontier explorer whenever no task drives the robot."),
        DeclareLaunchArgument("store_dir", default_value="",
                              description="Memory store under memory_root to open and keep; empty = a fresh memory in "
                                          "RAM for this run (save it with memory/save)."),
        DeclareLaunchArgument("memory_root", default_value="~/.ros/embodied_stack",
                              description="Directory that holds the memory stores; save and load stay inside it."),
        DeclareLaunchArgument("rviz", default_value="false", description="Start RViz with the shipped configuration."),
        DeclareLaunchArgument("rviz_config", default_value=PathJoinSubstitution([share, "rviz", "embodied_stack.rviz"]),
                              description="RViz configuration file."),
        Node(package=PACKAGE, executable="sim_bridge", name="sim_bridge", namespace=namespace, output="screen",
             emulate_tty=True,
             parameters=[params_file, {"use_sim_time": False,
                                       "scene": ParameterValue(LaunchConfiguration("scene"), value_type=str),
                                       "explore": ParameterValue(LaunchConfiguration("explore"), value_type=bool)}]),
        node("sensing", {"rooms_file": ParameterValue([LaunchConfiguration("memory_root"), "/", ROOMS_FILE],
                                                      value_type=str)}),
        node("memory", {"spatial": ParameterValue(["rooms:", LaunchConfiguration("memory_root"), "/", ROOMS_FILE],
                                                  value_type=str),
                        "store_dir": ParameterValue(LaunchConfiguration("store_dir"), value_type=str),
                        "memory_root": ParameterValue(LaunchConfiguration("memory_root"), value_type=str)}),
        node("planner"),
        node("policy", {"agent": ParameterValue(LaunchConfiguration("agent"), value_type=str),
                        "output": "discrete"}),
        Node(package="rviz2", executable="rviz2", name="rviz2", namespace=namespace, output="screen",
             arguments=["-d", LaunchConfiguration("rviz_config")], parameters=[sim_time],
             condition=IfCondition(LaunchConfiguration("rviz"))),
    ])
