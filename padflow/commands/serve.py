"""`padflow serve [--cron EXPR]`: serve the pipeline flow as a scheduled Prefect deployment."""

from __future__ import annotations

from padflow.commands.stage import import_from_project
from padflow.config import load_params, project_root

DEFAULT_DEPLOYMENT = "nightly"


def register(subparsers) -> None:
    p = subparsers.add_parser("serve", help="serve the pipeline as a scheduled Prefect deployment (Ctrl-C stops)")
    p.add_argument("--cron", help="schedule (default: params.yaml orchestration.cron)")
    p.add_argument("--name", default=None, help=f"deployment name (default: orchestration.deployment or {DEFAULT_DEPLOYMENT})")
    p.add_argument("--profile", help="deployment parameter: profile (profiles/<name>.yaml) each run uses")
    p.add_argument("--input", dest="input_dir", help="deployment parameter: folder or manifest of your own videos")
    p.set_defaults(func=run)


def build_deployment(cron: str | None, name: str | None, profile: str | None, input_dir: str | None):
    """The pipeline flow as a RunnerDeployment with its schedule and default parameters."""
    root = project_root()
    # Prefect loads only for this command, not on every CLI start.
    pipeline = import_from_project(root, "flows.pipeline").pipeline
    settings = load_params(root / "params.yaml").get("orchestration", {}) or {}
    cron = cron or settings.get("cron")
    if not cron:
        raise ValueError("no schedule: pass --cron or set orchestration.cron in params.yaml")
    return pipeline.to_deployment(
        name=name or settings.get("deployment") or DEFAULT_DEPLOYMENT,
        cron=cron,
        parameters={"profile": profile, "input_dir": input_dir, "root": str(root)},
        description="padflow pipeline: corpus/ingest → extract → gate → train → evaluate through DVC, logged to MLflow",
    )


def run(args) -> int:
    from prefect import serve

    deployment = build_deployment(args.cron, args.name, args.profile, args.input_dir)
    serve(deployment)
    return 0
