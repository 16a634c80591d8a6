"""Evaluation: composes the simulator, perception, memory, policy and planning.

Surveys (:mod:`.survey`), memory evaluation (:mod:`.memory_eval`), navigation evaluation loops
(:mod:`.nav`), success-vs-compute curves (:mod:`.curve`), task sets and scoring (:mod:`.tasks`),
and the ``eval``/``run`` subcommands. Scene-file ground truth is read here only to score.
"""
