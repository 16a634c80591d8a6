"""The habitat-sim adapter: the same ``Env`` interface over habitat_sim (see ``sim/habitat/README.md``).

``convert`` (y up <-> z up) and ``config`` (YAML -> plain spec -> habitat_sim objects) import
without habitat_sim; ``env.HabitatEnv`` needs it (installed with conda, not pip).
"""
