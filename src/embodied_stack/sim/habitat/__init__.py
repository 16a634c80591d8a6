"""The habitat-sim adapter: the same ``Env`` interface over habitat_sim 0.3.x (see docs/habitat.md).

``convert`` (y up <-> z up), ``config`` (YAML -> plain spec -> habitat_sim objects), ``glb`` and
``export`` (``sim export-habitat``: scene/1 -> .glb + semantic annotation + dataset config) and
``agreement`` (shortest paths on both simulators) import without habitat_sim; ``env.HabitatEnv``
needs it (from conda or a source build, not pip).
"""
