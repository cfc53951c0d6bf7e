"""What the sources say: model specs, GPUs, API prices, HF configs, the registry."""
