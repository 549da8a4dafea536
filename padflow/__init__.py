"""padflow: learn to play games from gameplay videos (a NitroGen rebuild as an MLOps pipeline)."""

import os as _os

# The libraries padflow drives phone home unless told not to, and the machines it runs on are
# often offline; a user's own setting wins. Prefect's temporary server needs longer than its
# default to start on 2 cores. Set before anything imports torch.
for _key, _value in {
    "DO_NOT_TRACK": "true",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "GX_ANALYTICS_ENABLED": "false",
    "DVC_NO_ANALYTICS": "1",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "60",
    # OpenMP threads that spin while waiting for work burn the other core's time: with 2 threads
    # on 2 shared cores a training step took 10x the CPU without this (read when torch loads).
    "OMP_WAIT_POLICY": "PASSIVE",
}.items():
    _os.environ.setdefault(_key, _value)

__version__ = "0.1.0"
