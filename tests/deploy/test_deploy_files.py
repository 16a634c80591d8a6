"""Static checks of the Jetson deployment files (they cannot run here) and a run of the TensorRT
engine script against a stand-in ``trtexec``."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from deploy_helpers import REPO

from embodied_stack.cli import build_parser
from embodied_stack.deploy.quantize import quantize_export
from embodied_stack.deploy.sim_inputs import RecordedEpisodes

DEPLOY = REPO / "deploy"
SCRIPTS = sorted(DEPLOY.glob("*.sh"))
DOCKER_INSTRUCTIONS = {"FROM", "RUN", "CMD", "LABEL", "EXPOSE", "ENV", "ADD", "COPY", "ENTRYPOINT", "VOLUME",
                       "USER", "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL", "HEALTHCHECK", "SHELL"}


def test_scripts_exist_are_executable_and_parse() -> None:
    assert {p.name for p in SCRIPTS} == {"build_trt_engines.sh", "entrypoint.sh"}
    for script in SCRIPTS:
        assert os.access(script, os.X_OK), f"{script} is not executable"
        assert script.read_text().startswith("#!/usr/bin/env bash\n")
        result = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True, check=False)
        assert result.returncode == 0, result.stderr


def test_scripts_pass_shellcheck() -> None:
    if shutil.which("shellcheck") is None:
        pytest.skip("shellcheck is not installed (apt-get install -y shellcheck)")
    result = subprocess.run(["shellcheck", "--severity=style", *map(str, SCRIPTS)], capture_output=True, text=True,
                            check=False)
    assert result.returncode == 0, result.stdout


def _docker_instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs: comments dropped, backslash continuations joined."""
    logical, current = [], ""
    for line in text.splitlines():
        if not current and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if current and line.lstrip().startswith("#"):
            continue
        current += line.rstrip()[:-1] + " " if line.rstrip().endswith("\\") else line
        if not line.rstrip().endswith("\\"):
            logical.append(current.strip())
            current = ""
    assert not current, "the Dockerfile ends inside a continued line"
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "") for line in logical]


def test_dockerfile_parses_and_refers_to_real_files() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    assert text.startswith("# syntax=docker/dockerfile:1\n")
    instructions = _docker_instructions(text)
    names = [name for name, _ in instructions]
    assert set(names) <= DOCKER_INSTRUCTIONS, set(names) - DOCKER_INSTRUCTIONS
    first = next(i for i, name in enumerate(names) if name != "ARG")
    assert names[first] == "FROM" and names.count("FROM") == 1
    assert re.fullmatch(r"nvcr\.io/nvidia/l4t-jetpack:\$\{L4T_TAG\}", instructions[first][1])
    pre_args = {args.split("=")[0] for name, args in instructions[:first]}
    assert "L4T_TAG" in pre_args
    for name, args in instructions:
        if name in ("CMD", "ENTRYPOINT", "SHELL", "VOLUME"):
            assert isinstance(json.loads(args), list), f"{name} must be an exec-form JSON array"
        if name == "RUN":
            check = subprocess.run(["bash", "-n", "-c", args], capture_output=True, text=True, check=False)
            assert check.returncode == 0, f"RUN {args[:80]}...: {check.stderr}"
    entrypoint = json.loads(dict(instructions)["ENTRYPOINT"])[0]
    assert entrypoint == "/opt/embodied_stack/deploy/entrypoint.sh"
    assert (REPO / "deploy" / "entrypoint.sh").is_file()
    ignored = (DEPLOY / "Dockerfile.dockerignore").read_text().split()
    for needed in ("deploy", "src", "pyproject.toml", "ros_ws", "nodes", "launch"):
        assert needed not in ignored


def _unit(text: str) -> dict[str, dict[str, str]]:
    sections: dict[str, dict[str, str]] = {}
    current = None
    joined = re.sub(r"\\\n\s*", " ", text)
    for line in joined.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[] "), {})
            continue
        assert current is not None and "=" in line, f"bad unit line {line!r}"
        key, value = line.split("=", 1)
        current[key.strip()] = value.strip()
    return sections


def test_systemd_unit_and_its_environment_file() -> None:
    unit = _unit((DEPLOY / "embodied-stack.service").read_text())
    assert set(unit) == {"Unit", "Service", "Install"}
    service = unit["Service"]
    assert service["Restart"] == "on-failure" and unit["Install"]["WantedBy"] == "multi-user.target"
    assert "docker.service" in unit["Unit"]["Requires"]
    for key in ("ExecStart", "ExecStop"):
        assert service[key].startswith("/usr/bin/docker ")
    assert "ros2 launch embodied_stack_ros robot.launch.py" in service["ExecStart"]
    env: dict[str, str] = {}
    for line in (DEPLOY / "robot.env").read_text().splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            assert re.fullmatch(r"[A-Z_][A-Z0-9_]*", key) and not re.search(r"[\"' ]", value), line
            env[key] = value
    used = set(re.findall(r"\$\{([A-Z_0-9]+)\}", service["ExecStart"]))
    assert used <= set(env), used - set(env)
    assert env["EMBODIED_STACK_AGENT"].startswith("onnx:")
    launch = (REPO / "launch" / "robot.launch.py").read_text()
    for argument in re.findall(r"(\w+):=", service["ExecStart"]):
        assert f'DeclareLaunchArgument("{argument}"' in launch, f"robot.launch.py has no argument {argument!r}"
    if shutil.which("systemd-analyze"):
        result = subprocess.run(["systemd-analyze", "verify", str(DEPLOY / "embodied-stack.service")],
                                capture_output=True, text=True, check=False)
        assert "Invalid" not in result.stderr and "Unknown key" not in result.stderr, result.stderr


def test_guide_commands_parse_with_the_real_cli() -> None:
    text = (DEPLOY / "GUIDE.md").read_text()
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        for command in re.sub(r"\\\n\s*", " ", block).splitlines():
            if command.strip().startswith("embodied-stack "):
                commands.append(shlex.split(command, comments=True)[1:])
    assert {c[0] for c in commands} >= {"export", "eval", "bench"}
    parser = build_parser()
    for argv in commands:
        args = parser.parse_args(argv)
        assert callable(args.func), argv
        for option in ("scene", "episodes"):
            if getattr(args, option, None) is not None:
                assert (REPO / str(getattr(args, option))).is_file(), f"GUIDE.md names a missing {option} file"


FAKE_TRTEXEC = """#!/usr/bin/env bash
echo "&&&& RUNNING TensorRT.trtexec [TensorRT v8601] # trtexec $*"
printf '%s\\n' "$*" >> "$FAKE_TRTEXEC_LOG"
for arg in "$@"; do
    case "$arg" in --saveEngine=*) echo engine > "${arg#--saveEngine=}" ;; esac
done
"""


def _run_script(export_dir: Path, out: Path, tmp_path: Path, **env: str) -> tuple[subprocess.CompletedProcess, list[str]]:
    fake = tmp_path / "trtexec"
    fake.write_text(FAKE_TRTEXEC)
    fake.chmod(0o755)
    log = tmp_path / "calls.log"
    environment = {**os.environ, "TRTEXEC": str(fake), "FAKE_TRTEXEC_LOG": str(log), "PYTHON": sys.executable, **env}
    result = subprocess.run(["bash", str(DEPLOY / "build_trt_engines.sh"), str(export_dir), str(out)],
                            capture_output=True, text=True, env=environment, check=False)
    calls = [c for c in log.read_text().splitlines() if c != "--help"] if log.exists() else []
    return result, calls


def test_engine_script_builds_fp16_and_calibrated_int8_engines(export_copy: Path, recorded: RecordedEpisodes,
                                                               tmp_path: Path) -> None:
    quantize_export(export_copy, "static", recorded=recorded)
    out = tmp_path / "engines"
    result, calls = _run_script(export_copy, out, tmp_path, MAX_BATCH="4")
    assert result.returncode == 0, result.stderr
    graphs = ["vision", "segment_1", "segment_2", "segment_3", "head"]
    assert sorted(p.name for p in out.glob("*.engine")) == sorted(f"{g}.{p}.engine" for g in graphs for p in ("fp16", "int8"))
    head_int8 = next(c for c in calls if "head.onnx" in c and "--int8" in c)
    assert f"--onnx={export_copy}/head.onnx" in head_int8
    assert "--minShapes=feature:1x64,h:1x1x32,c:1x1x32" in head_int8
    assert "--maxShapes=feature:4x64,h:1x4x32,c:1x4x32" in head_int8
    assert f"--calib={out}/calib/head.cache" in head_int8
    cache = (out / "calib" / "head.cache").read_text().splitlines()
    assert cache[0] == "TRT-8601-EntropyCalibration2"
    assert cache[1:] == (export_copy / "calib" / "head.cache").read_text().splitlines()[1:]


def test_engine_script_skips_int8_without_a_cache_and_rejects_bad_input(export_copy: Path, tmp_path: Path) -> None:
    result, calls = _run_script(export_copy, tmp_path / "engines", tmp_path)
    assert result.returncode == 0, result.stderr
    assert len(calls) == 5 and all("--fp16" in c and "--int8" not in c for c in calls)
    assert result.stderr.count("no calibration cache") == 5
    result, _ = _run_script(tmp_path / "nothing", tmp_path / "engines", tmp_path)
    assert result.returncode == 1 and "manifest.json not found" in result.stderr
    result, _ = _run_script(export_copy, tmp_path / "engines", tmp_path, PRECISIONS="fp8")
    assert result.returncode == 2 and "expected fp32, fp16 or int8" in result.stderr
