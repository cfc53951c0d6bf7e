"""The estimator: parameters, quantization, KV, engine budgets, memory, speed, calibration."""
