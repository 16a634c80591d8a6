#!/usr/bin/env bash
# Container entry point and systemd helper: source ROS 2 and the embodied-stack workspace, then
# run the given command (by default the robot launch). ROS setup scripts read unset variables,
# so this script does not use `set -u`.
set -eo pipefail

ROS_DISTRO="${ROS_DISTRO:-humble}"
EMBODIED_STACK_HOME="${EMBODIED_STACK_HOME:-/opt/embodied_stack}"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1

# shellcheck source=/dev/null
source "/opt/ros/${ROS_DISTRO}/setup.bash"
# shellcheck source=/dev/null
source "${EMBODIED_STACK_HOME}/ros_ws/install/setup.bash"

if [ "$#" -eq 0 ]; then
    set -- ros2 launch embodied_stack_ros robot.launch.py
fi
exec "$@"
