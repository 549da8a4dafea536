"""Subcommands of the `padflow` CLI, one module each (registered in padflow.cli)."""
