"""A real robot: sensing, memory, planner and policy on the robot's own camera and base.

    ros2 launch embodied_stack_ros robot.launch.py color_topic:=/camera/color/image_raw \
        depth_topic:=/camera/aligned_depth_to_color/image_raw detector:=owlv2:/models/owlv2

The camera, odometry and velocity topics of the robot are remapped onto the nodes' topic
names; tf must provide map -> odom -> base_link -> the camera's optical frame (REP-105).
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
    namespace = LaunchConfiguration("namespace")
    params_file = LaunchConfiguration("params_file")
    sim_time = {"use_sim_time": ParameterValue(LaunchConfiguration("use_sim_time"), value_type=bool)}
    camera = [
        ("camera/color/image_raw", LaunchConfiguration("color_topic")),
        ("camera/depth/image_raw", LaunchConfiguration("depth_topic")),
        ("camera/color/camera_info", LaunchConfiguration("camera_info_topic")),
    ]

    def node(executable: str, remappings: list, *overrides: dict) -> Node:
        return Node(package=PACKAGE, executable=executable, name=executable, namespace=namespace,
                    parameters=[params_file, sim_time, *overrides], remappings=remappings,
                    output="screen", emulate_tty=True)

    return LaunchDescription([
        DeclareLaunchArgument("namespace", default_value="",
                              description="Namespace of every node and of their relative topics and services."),
        DeclareLaunchArgument("use_sim_time", default_value="false",
                              description="Use /clock (true when replaying a bag with --clock)."),
        DeclareLaunchArgument("params_file", default_value=PathJoinSubstitution([share, "params", "embodied_stack.yaml"]),
                              description="YAML file with the parameters of every node."),
        DeclareLaunchArgument("color_topic", default_value="camera/color/image_raw",
                              description="The robot's colour image topic (sensor_msgs/Image, rgb8/bgr8)."),
        DeclareLaunchArgument("depth_topic", default_value="camera/depth/image_raw",
                              description="Depth registered to the colour camera (sensor_msgs/Image, 16UC1 mm or 32FC1 m)."),
        DeclareLaunchArgument("camera_info_topic", default_value="camera/color/camera_info",
                              description="The colour camera's sensor_msgs/CameraInfo topic."),
        DeclareLaunchArgument("odom_topic", default_value="odom",
                              description="The base's odometry (nav_msgs/Odometry), for the policy's robot pose."),
        DeclareLaunchArgument("cmd_vel_topic", default_value="cmd_vel",
                              description="Where the policy sends velocity commands (geometry_msgs/TwistStamped, "
                                          "or Twist with cmd_vel_stamped:=false)."),
        DeclareLaunchArgument("cmd_vel_stamped", default_value="true",
                              description="Send TwistStamped (Jazzy's diff_drive_controller); false: plain Twist."),
        DeclareLaunchArgument("detections_topic", default_value="detections_2d",
                              description="With detector:=vision_msgs: the robot's vision_msgs/Detection2DArray topic."),
        DeclareLaunchArgument("navigator", default_value="policy",
                              description="Who drives to memory targets: 'policy' or 'nav2' (NavigateToPose)."),
        DeclareLaunchArgument("detector", default_value="owlv2:/opt/embodied_stack/models/owlv2",
                              description="Sensing detector: owlv2:DIR (a local OWLv2 model saved with "
                                          "save_pretrained) or vision_msgs (the robot's own Detection2DArray)."),
        DeclareLaunchArgument("spatial", default_value="",
                              description="The memory's navigable map: map:/path/map.yaml (a map_server map) or empty."),
        DeclareLaunchArgument("agent", default_value="",
                              description="Policy (required): policy:CHECKPOINT.safetensors or onnx:EXPORT_DIR."),
        node("sensing", camera + [("detections_2d", LaunchConfiguration("detections_topic"))],
             {"detector": ParameterValue(LaunchConfiguration("detector"), value_type=str)}),
        node("memory", [], {"spatial": ParameterValue(LaunchConfiguration("spatial"), value_type=str)}),
        node("planner", [], {"navigator": ParameterValue(LaunchConfiguration("navigator"), value_type=str)}),
        node("policy", camera + [("odom", LaunchConfiguration("odom_topic")),
                                 ("cmd_vel", LaunchConfiguration("cmd_vel_topic"))],
             {"agent": ParameterValue(LaunchConfiguration("agent"), value_type=str), "output": "velocity",
              "cmd_vel_stamped": ParameterValue(LaunchConfiguration("cmd_vel_stamped"), value_type=bool)}),
    ])
