"""The memory alone, for a robot that already has perception publishing observations.

    ros2 launch embodied_stack_ros memory.launch.py observations_topic:=/perception/objects
    ros2 service call /memory/query embodied_stack_interfaces/srv/QueryMemory "{query: 'where is the fridge?'}"
"""

from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.descriptions import ParameterValue
from launch_ros.substitutions import FindPackageShare

from launch import LaunchDescription

PACKAGE = "embodied_stack_ros"


def generate_launch_description() -> LaunchDescription:
    share = FindPackageShare(PACKAGE)
    return LaunchDescription([
        DeclareLaunchArgument("namespace", default_value="",
                              description="Namespace of the node and of its relative topics and services."),
        DeclareLaunchArgument("use_sim_time", default_value="false", description="Use /clock for stamps."),
        DeclareLaunchArgument("params_file", default_value=PathJoinSubstitution([share, "params", "embodied_stack.yaml"]),
                              description="YAML file with the node's parameters."),
        DeclareLaunchArgument("observations_topic", default_value="memory/observations",
                              description="Topic of embodied_stack_interfaces/msg/ObjectObservationArray to ingest."),
        DeclareLaunchArgument("memory_root", default_value="~/.ros/embodied_stack",
                              description="Directory that holds the stores; save and load stay inside it."),
        DeclareLaunchArgument("store_dir", default_value="default",
                              description="Store opened at start, under memory_root; empty = RAM only."),
        DeclareLaunchArgument("spatial", default_value="",
                              description="Navigable map for reachable target poses: map:/path/map.yaml, or empty."),
        Node(package=PACKAGE, executable="memory", name="memory", namespace=LaunchConfiguration("namespace"),
             output="screen", emulate_tty=True,
             parameters=[LaunchConfiguration("params_file"), {
                 "use_sim_time": ParameterValue(LaunchConfiguration("use_sim_time"), value_type=bool),
                 "memory_root": ParameterValue(LaunchConfiguration("memory_root"), value_type=str),
                 "store_dir": ParameterValue(LaunchConfiguration("store_dir"), value_type=str),
                 "spatial": ParameterValue(LaunchConfiguration("spatial"), value_type=str),
             }],
             remappings=[("memory/observations", LaunchConfiguration("observations_topic"))]),
    ])
