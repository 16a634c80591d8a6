#!/usr/bin/env bash
# Install embodied-stack with its test tools, then run the whole test suite.
# Extra arguments go to pytest, e.g. `bash scripts/test.sh -k memory`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh --dev
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
exec "${PYTHON:-python3}" -m pytest -q "$@"
