"""Planning exchange: a task in language becomes subgoals grounded in the memory, executed one at a
time by the policy, with feedback and replanning."""
