"""The micro-MoE runtime: a small Llama-4-shaped model with seeded random weights that runs on the
detected device (numpy on the CPU, CuPy on an NVIDIA GPU) so the estimator's byte counts and speed
predictions can be checked against measurement.

Modules: ``backend`` (array module; every CuPy call is in ``gpu``), ``weights`` (exactly the
tensors of ``params.weight_table``), ``kv_cache`` (``KVCache``, full and hybrid layouts),
``model`` (prefill / decode_one_token / generate as plain functions), ``measure`` (device and
model measurements), ``scaling`` (any registry spec scaled down to a byte budget).
"""
