"""Simulation: one ``Env`` interface over the embedded simulator (open3d ray casting) and the
habitat-sim adapter; scenes, episodes, metrics, evaluation and exploration."""
