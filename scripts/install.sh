#!/usr/bin/env bash
# Set up embodied-stack on a fresh Debian/Ubuntu machine (CPU).
#   bash scripts/install.sh          # the library, the simulator, ONNX and rosbag2 support
#   bash scripts/install.sh --dev    # plus the test tools
# torch is installed first and pinned (constraints.txt): an unpinned range would pull a CUDA
# build of a newer torch. On a Jetson, install NVIDIA's torch first; this script keeps it.
set -euo pipefail
cd "$(dirname "$0")/.."

extra="all"
[ "${1:-}" = "--dev" ] && extra="dev"
PYTHON="${PYTHON:-python3}"

# open3d needs libusb at import time.
if ! ldconfig -p 2>/dev/null | grep -q 'libusb-1.0.so.0'; then
    if [ "$(id -u)" = "0" ]; then
        apt-get update -qq && apt-get install -y -qq libusb-1.0-0 >/dev/null
    else
        sudo apt-get update -qq && sudo apt-get install -y -qq libusb-1.0-0 >/dev/null
    fi
fi

if ! "$PYTHON" -c 'import torch' 2>/dev/null; then
    "$PYTHON" -m pip install -q torch==2.13.0
fi
"$PYTHON" -m pip install -q -c constraints.txt -e ".[${extra}]"
echo "embodied-stack installed ($("$PYTHON" -c 'import torch; print("torch", torch.__version__)'))"
