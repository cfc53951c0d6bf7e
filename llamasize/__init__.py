"""llamasize: deployment planner and hardware sizing calculator for dense and MoE LLMs."""

__version__ = "0.1.0"

#: Version of every JSON document llamasize writes; bumped when a key changes meaning or goes away.
SCHEMA_VERSION = "1"
