"""padflow: learn to play games from gameplay videos (a NitroGen rebuild as an MLOps pipeline).

Importing padflow changes nothing in the process: the environment defaults it runs with
(telemetry off, thread waits) are set by the `padflow` command (padflow/cli.py: ENV_DEFAULTS).
"""

__version__ = "0.1.0"
