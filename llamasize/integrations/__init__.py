"""What llamasize writes for other tools: launch commands, Terraform."""
