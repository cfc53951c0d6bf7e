"""llamasize check: manifests -> deployments -> the estimator -> findings -> formats."""
