"""Configuration of the Habitat adapter: a YAML-loadable dataclass, a plain-data spec built from
it (tested without habitat_sim), and one thin function that turns the spec into habitat_sim
objects.

The spec names exactly the habitat_sim API it feeds: ``habitat_sim.SimulatorConfiguration``
(``scene_id``, ``scene_dataset_config_file``, ``gpu_device_id``, ``enable_physics``,
``random_seed``, ``allow_sliding``), ``habitat_sim.agent.AgentConfiguration`` (``height``,
``radius``, ``action_space`` of ``ActionSpec(name, ActuationSpec(amount))`` with metres for
``move_forward`` and degrees for turns), and one ``habitat_sim.CameraSensorSpec`` per modality
(``SensorType.COLOR`` / ``DEPTH`` / ``SEMANTIC``, ``resolution`` [height, width], ``hfov`` in
degrees, ``position`` [0, camera height, 0] in the agent's y-up frame), and
``habitat_sim.NavMeshSettings`` (``set_defaults()``, then ``agent_radius``, ``agent_height`` and
``cell_height``: recast's voxel height, which also bounds how far the navmesh surface lies above
the floor, so it is kept small).

``gpu_device_id = -1`` selects Mesa's CPU EGL renderer on a machine without a GPU (the default 0
aborts there).
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from embodied_stack.errors import FormatError

SENSOR_UUIDS = {"color": "COLOR", "depth": "DEPTH", "semantic": "SEMANTIC"}
"""Sensor uuid -> ``habitat_sim.SensorType`` member name."""


@dataclass(frozen=True)
class HabitatConfig:
    """Settings of :class:`~embodied_stack.sim.habitat.env.HabitatEnv` (defaults: ObjectNav on HM3D).

    ``scene``: a scene id of the dataset or a mesh path (``.glb``); ``scene_dataset_config``:
    the dataset's ``*.scene_dataset_config.json`` (needed for HM3D semantics; empty for none).
    ``episodes``: an optional episodes/1 file in ``map`` coordinates (z up). Depth outside
    ``[min_depth_m, max_depth_m]`` reads 0 unless ``clamp_depth`` (Habitat-lab's behaviour).
    ``source_scene``: the scene/1 file a scene written by ``sim export-habitat`` came from (its
    objects and rooms give episode goals and the floor height under the agent; empty for HM3D).
    ``navmesh_cell_height_m``: recast's voxel height (the navmesh surface lies up to about this
    much above the floor; the camera is placed from the floor, see ``HabitatEnv``).
    Paths may use ``$VARS`` and ``~``; relative paths in a YAML file are relative to that file.
    """

    scene: str
    scene_dataset_config: str = ""
    episodes: str = ""
    source_scene: str = ""
    gpu_device_id: int = 0
    width: int = 640
    height: int = 480
    hfov_deg: float = 79.0
    camera_height_m: float = 0.88
    agent_radius_m: float = 0.18
    agent_height_m: float = 0.88
    forward_step_m: float = 0.25
    turn_angle_deg: float = 30.0
    min_depth_m: float = 0.5
    max_depth_m: float = 5.0
    clamp_depth: bool = False
    semantic: bool = True
    recompute_navmesh: bool = True
    navmesh_cell_height_m: float = 0.05
    allow_sliding: bool = True
    max_steps: int = 500
    success_distance_m: float = 1.0
    action_duration_s: float = 0.5
    seed: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.scene, str) or not self.scene.strip():
            raise ValueError(f"HabitatConfig.scene must be a scene id or path, got {self.scene!r}")
        for name in ("width", "height", "max_steps"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"HabitatConfig.{name} must be a positive integer, got {value!r}")
        if not isinstance(self.gpu_device_id, int) or self.gpu_device_id < -1:
            raise ValueError(f"HabitatConfig.gpu_device_id must be -1 (CPU EGL) or a GPU index, got {self.gpu_device_id!r}")
        positive = ("camera_height_m", "agent_radius_m", "agent_height_m", "forward_step_m", "turn_angle_deg",
                    "max_depth_m", "success_distance_m", "action_duration_s", "navmesh_cell_height_m")
        for name in positive:
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ValueError(f"HabitatConfig.{name} must be a number > 0, got {value!r}")
        if not 0.0 < self.hfov_deg < 180.0:
            raise ValueError(f"HabitatConfig.hfov_deg must be in (0, 180), got {self.hfov_deg!r}")
        if not 0.0 <= self.min_depth_m < self.max_depth_m:
            raise ValueError(f"HabitatConfig depth range must satisfy 0 <= min < max, got {self.min_depth_m}..{self.max_depth_m}")

    def replace(self, **changes: Any) -> HabitatConfig:
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_yaml(cls, path: str | Path) -> HabitatConfig:
        """Read the adapter's YAML (a mapping of these fields, optionally under ``habitat:``)."""
        import yaml

        path = Path(path)
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except OSError as err:
            raise FormatError(f"cannot read ({err.strerror})", path=str(path)) from err
        except yaml.YAMLError as err:
            raise FormatError(f"not valid YAML ({err})", path=str(path)) from err
        if isinstance(data, dict) and set(data) == {"habitat"}:
            data = data["habitat"]
        if not isinstance(data, dict):
            raise FormatError("expected a mapping of HabitatConfig fields", path=str(path))
        known = {f.name for f in dataclasses.fields(cls)}
        for key in data:
            if key not in known:
                raise FormatError(f"unknown field; expected one of {', '.join(sorted(known))}",
                                  path=str(path), field=str(key))
        for key in ("scene", "scene_dataset_config", "episodes", "source_scene"):
            if isinstance(data.get(key), str) and data[key]:
                data[key] = _resolve(data[key], path.parent, keep_ids=key == "scene")
        try:
            return cls(**data)
        except (TypeError, ValueError) as err:
            raise FormatError(str(err), path=str(path)) from err


def _resolve(value: str, base: Path, *, keep_ids: bool) -> str:
    """Expand ``$VARS``/``~``; make relative file paths relative to ``base`` (a bare scene id,
    without a suffix, stays as it is)."""
    expanded = os.path.expanduser(os.path.expandvars(value))
    candidate = Path(expanded)
    if candidate.is_absolute() or (keep_ids and not candidate.suffix):
        return expanded
    return str((base / candidate).resolve())


def habitat_spec(cfg: HabitatConfig) -> dict[str, Any]:
    """The habitat_sim configuration as plain data (see the module docstring for the mapping)."""
    sensors = ["color", "depth"] + (["semantic"] if cfg.semantic else [])
    return {
        "sim": {
            "scene_id": cfg.scene,
            "scene_dataset_config_file": cfg.scene_dataset_config or "default",
            "gpu_device_id": cfg.gpu_device_id,
            "enable_physics": False,
            "random_seed": cfg.seed,
            "allow_sliding": cfg.allow_sliding,
        },
        "agent": {
            "height": cfg.agent_height_m,
            "radius": cfg.agent_radius_m,
            "action_space": {
                "move_forward": cfg.forward_step_m,
                "turn_left": cfg.turn_angle_deg,
                "turn_right": cfg.turn_angle_deg,
            },
        },
        "sensors": [
            {"uuid": uuid, "sensor_type": SENSOR_UUIDS[uuid], "resolution": [cfg.height, cfg.width],
             "hfov": cfg.hfov_deg, "position": [0.0, cfg.camera_height_m, 0.0]}
            for uuid in sensors
        ],
        "navmesh": {
            "recompute": cfg.recompute_navmesh,
            "agent_radius": cfg.agent_radius_m,
            "agent_height": cfg.agent_height_m,
            "cell_height": cfg.navmesh_cell_height_m,
        },
    }


def build_habitat_configuration(spec: dict[str, Any], hs: ModuleType) -> Any:
    """Turn :func:`habitat_spec` output into ``habitat_sim.Configuration`` using module ``hs``."""
    sim_cfg = hs.SimulatorConfiguration()
    for key, value in spec["sim"].items():
        setattr(sim_cfg, key, value)
    sensor_specs = []
    for s in spec["sensors"]:
        camera = hs.CameraSensorSpec()
        camera.uuid = s["uuid"]
        camera.sensor_type = getattr(hs.SensorType, s["sensor_type"])
        camera.resolution = list(s["resolution"])
        camera.hfov = s["hfov"]
        camera.position = list(s["position"])
        sensor_specs.append(camera)
    agent_cfg = hs.agent.AgentConfiguration()
    agent_cfg.height = spec["agent"]["height"]
    agent_cfg.radius = spec["agent"]["radius"]
    agent_cfg.sensor_specifications = sensor_specs
    agent_cfg.action_space = {
        name: hs.agent.ActionSpec(name, hs.agent.ActuationSpec(amount=amount))
        for name, amount in spec["agent"]["action_space"].items()
    }
    return hs.Configuration(sim_cfg, [agent_cfg])


def build_navmesh_settings(spec: dict[str, Any], hs: ModuleType) -> Any:
    """``habitat_sim.NavMeshSettings`` for the agent (defaults, then radius, height, cell height)."""
    settings = hs.NavMeshSettings()
    settings.set_defaults()
    settings.agent_radius = spec["navmesh"]["agent_radius"]
    settings.agent_height = spec["navmesh"]["agent_height"]
    settings.cell_height = spec["navmesh"]["cell_height"]
    return settings
