"""padflow."""
