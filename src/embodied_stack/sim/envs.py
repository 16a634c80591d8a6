"""Make an :class:`~embodied_stack.sim.env.Env` from a spec string, so every command that runs
episodes takes the embedded simulator and Habitat the same way.

Specs: a scene/1 file path (``sim/scenes/home_3.scene.json``) -> :class:`EmbeddedSim`;
``habitat:CONFIG.yaml`` -> :class:`~embodied_stack.sim.habitat.env.HabitatEnv` (needs habitat_sim).
"""

from __future__ import annotations

from pathlib import Path

from embodied_stack.sim.embedded import EmbeddedSim, SimConfig
from embodied_stack.sim.env import Env
from embodied_stack.sim.scene import Scene, load_scene

HABITAT_PREFIX = "habitat:"


def is_habitat_spec(spec: str | Path | Scene) -> bool:
    return isinstance(spec, str) and spec.startswith(HABITAT_PREFIX)


def scene_of(spec: str | Path | Scene) -> Scene:
    """The scene/1 scene a spec runs: the file itself, or for ``habitat:CONFIG.yaml`` the
    ``source_scene`` of the config (written by ``sim export-habitat``). Raises
    :class:`~embodied_stack.sim.errors.SimError` for a Habitat config without one (HM3D)."""
    if isinstance(spec, Scene):
        return spec
    if is_habitat_spec(spec):
        from embodied_stack.sim.errors import SimError
        from embodied_stack.sim.habitat.config import HabitatConfig

        cfg = HabitatConfig.from_yaml(str(spec)[len(HABITAT_PREFIX):])
        if not cfg.source_scene:
            raise SimError(f"{spec}: needs the scene/1 file the habitat scene was exported from (source_scene in "
                           "the YAML, written by `embodied-stack sim export-habitat`); HM3D scenes have none")
        return load_scene(cfg.source_scene)
    return load_scene(spec)


def make_env(
    spec: str | Path | Scene,
    *,
    config: SimConfig | None = None,
    width: int | None = None,
    height: int | None = None,
    seed: int | None = None,
) -> Env:
    """Build the env a spec names.

    Args:
        spec: a scene/1 path or :class:`Scene` (embedded simulator) or ``"habitat:CONFIG.yaml"``.
        config: embedded-simulator settings (default :class:`SimConfig`); ignored for Habitat,
            whose YAML holds its settings.
        width, height: override the render resolution of either backend (policies render small).
        seed: override the seed of either backend (random starts).
    """
    size = {k: v for k, v in (("width", width), ("height", height), ("seed", seed)) if v is not None}
    if is_habitat_spec(spec):
        from embodied_stack.sim.habitat.config import HabitatConfig
        from embodied_stack.sim.habitat.env import HabitatEnv

        habitat_cfg = HabitatConfig.from_yaml(str(spec)[len(HABITAT_PREFIX):])
        return HabitatEnv(habitat_cfg.replace(**size) if size else habitat_cfg)
    scene = spec if isinstance(spec, Scene) else load_scene(spec)
    sim_cfg = config if config is not None else SimConfig()
    return EmbeddedSim(scene, sim_cfg.replace(**size) if size else sim_cfg)
