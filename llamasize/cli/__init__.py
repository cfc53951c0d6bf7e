"""The command-line interface: flags, defaults, the error funnel."""
