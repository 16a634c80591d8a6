"""Top-down scene pictures: they are drawn, not blank, and carry the overlays asked for."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from embodied_stack.sim.errors import EpisodeFormatError
from embodied_stack.sim.generate import generate_scene
from embodied_stack.sim.mapviz import draw_episode_map, draw_scene_map, load_trajectory, room_color
from embodied_stack.sim.navmap import NavMap


def test_scene_map_with_overlays(tmp_path: Path) -> None:
    s = generate_scene(2, "home", 5)
    nm = NavMap.from_scene(s)
    traj = nm.shortest_path(nm.sample_navigable(np.random.default_rng(0), 1)[0], nm.sample_navigable(np.random.default_rng(1), 1)[0])
    out = draw_scene_map(s, tmp_path / "m.png", navmap=nm, trajectories=[("oracle", traj)],
                         starts=np.array([[traj[0, 0], traj[0, 1], 0.5]]), goals=traj[-1:],
                         regions=[("kitchen area", np.array([[1, 1], [2, 1], [2, 2], [1, 2]]))], dpi=60)
    image = np.asarray(Image.open(out).convert("RGB"), dtype=np.float64)
    assert image.shape[0] > 250 and image.shape[1] > 400
    assert image.std() > 20
    plain = draw_scene_map(s, tmp_path / "plain.png", show_navigable=False, dpi=60)
    assert plain.read_bytes() != out.read_bytes()
    assert room_color("kitchen") == room_color("kitchen") and room_color("kitchen") != room_color("bedroom")


def test_episode_map(tmp_path: Path) -> None:
    from embodied_stack.sim.episodes import generate_episodes

    s = generate_scene(2, "home", 5)
    episodes = generate_episodes(s, NavMap.from_scene(s), 3, 0)
    out = draw_episode_map(s, tmp_path / "e.png", episodes=episodes, dpi=50)
    assert out.is_file() and out.stat().st_size > 10_000


def test_load_trajectory_formats(tmp_path: Path) -> None:
    a = tmp_path / "a.json"
    a.write_text(json.dumps([[0, 0], [1, 2, 0.3]]))
    b = tmp_path / "b.json"
    b.write_text(json.dumps({"poses": [{"x": 1, "y": 1}, {"x": 2, "y": 3}]}))
    np.testing.assert_allclose(load_trajectory(a), [[0, 0], [1, 2]])
    np.testing.assert_allclose(load_trajectory(b), [[1, 1], [2, 3]])
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"poses": [[1]]}))
    with pytest.raises(EpisodeFormatError, match="poses"):
        load_trajectory(bad)
