"""Planning on top of the estimator: the planner, sweep and cost."""
