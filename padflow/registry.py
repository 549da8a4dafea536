"""MLflow as the model registry and the dataset record: logged models, versions, the `champion` alias, datasets.

A stage that exports a model (train: the policy; parser_train: the overlay parser) hands its
folder to `publish`, inside the stage's run: the folder is logged as a pyfunc model (the wrapper
from models/pyfunc.py, with signature and input example) and registered as a new version of
`padflow-policy` / `padflow-overlay-parser`, tagged with the weights' digest and the run's
headline metrics. A folder whose weights are already registered is not logged again: the stage
that scores it (evaluate, for the policy) adds its score to that version.

The `champion` alias names the best version by one score (higher is better): it moves to a
version only when that version's score beats the champion's, never on a tie or a worse score;
the first scored version becomes champion. Load it with
`mlflow.pyfunc.load_model("models:/padflow-policy@champion")`.

Registering costs the copy of the weights into the artifact store and one load + predict of the
input example (MLflow checks the example is servable); requirements are given, not inferred
(inference would load the model in a subprocess).
"""

from __future__ import annotations

import hashlib
import math
import os
import shutil
import tempfile
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

from padflow.io import file_sha256

CHAMPION = "champion"
WEIGHTS_TAG = "padflow.weights_sha256"  # on a model version: digest of its *.safetensors (registry.weights_digest)
SCORE_TAG = "padflow.score"  # on a model version: `padflow.score.<metric>` = value
DESCRIPTION_CHARS = 5000  # MLflow's column for a model version's description
ARTIFACT_NAME = "model"  # the logged model's name inside its run
# What loading the pyfunc model needs besides padflow's checkout (models/ is imported from it).
REQUIRED_PACKAGES = ("padflow", "mlflow", "torch", "numpy", "safetensors", "transformers", "opencv-python", "pydantic")
DESCRIPTIONS = {
    "padflow-policy": "padflow's flow-matching policy: one RGB game frame in, a 16-step chunk of unified gamepad "
                      "actions out. Alias `champion`: the best version by evaluate's success rate (policy.overall).",
    "padflow-overlay-parser": "padflow's overlay parser: two rectified crops of a gamepad input overlay in, the pad's "
                              "buttons and sticks (unified actions) and a confidence out. Alias `champion`: the best "
                              "version by whole-frame button accuracy on held-out skins.",
}


def weights_digest(folder: Path) -> str:
    """sha256 over the folder's *.safetensors files (name and content): what identifies a registered version."""
    files = sorted(folder.glob("*.safetensors"))
    if not files:
        raise ValueError(f"{folder}: no *.safetensors weights to register")
    digest = hashlib.sha256()
    for path in files:
        digest.update(f"{path.name}:{file_sha256(path)}\n".encode())
    return digest.hexdigest()


def model_files(folder: Path, scratch: Path) -> Path:
    """The files at the top of `folder` (weights, config, card), linked into a folder under `scratch`: an export
    folder may also hold working data in subfolders (parser_train's renders and checkpoints), which the model leaves out."""
    staged = scratch / folder.name
    staged.mkdir(parents=True)
    for path in sorted(folder.iterdir()):
        if path.is_file():
            try:
                os.link(path, staged / path.name)
            except OSError:  # another file system, or links not allowed
                shutil.copy2(path, staged / path.name)
    return staged


def pip_requirements() -> list[str]:
    """This environment's versions of what the pyfunc wrapper imports (pinned, not inferred)."""
    found = []
    for name in REQUIRED_PACKAGES:
        try:
            found.append(f"{name}=={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            continue
    return found


def find_version(name: str, digest: str):
    """The registered version of `name` holding weights `digest`, or None."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    try:
        found = MlflowClient().search_model_versions(f"name = '{name}' and tags.`{WEIGHTS_TAG}` = '{digest}'")
    except MlflowException:  # no such registered model yet
        return None
    return max(found, key=lambda v: int(v.version)) if found else None


def publish(
    name: str,
    folder: Path,
    python_model: Any,
    example: Any,
    signature: Any,
    metrics: Mapping[str, float],
    score: tuple[str, float] | None = None,
) -> dict[str, Any]:
    """Log `folder` as a pyfunc model in the active run and register it under `name` (once per weights digest);
    record `score` on the version and move the champion alias if it beats the champion. Returns what happened."""
    import mlflow
    from mlflow import MlflowClient

    client = MlflowClient()
    digest = weights_digest(folder)
    version = find_version(name, digest)
    logged = version is None
    if version is None:
        with tempfile.TemporaryDirectory(prefix="padflow-model-") as tmp:
            info = mlflow.pyfunc.log_model(
                name=ARTIFACT_NAME, python_model=python_model, artifacts={"model": str(model_files(folder, Path(tmp)))},
                input_example=example, signature=signature, pip_requirements=pip_requirements(),
                registered_model_name=name, tags={WEIGHTS_TAG: digest}, await_registration_for=0,
            )
        number = str(info.registered_model_version)
        client.set_model_version_tag(name, number, WEIGHTS_TAG, digest)
        card = folder / "README.md"
        if card.is_file():
            client.update_model_version(name, number, description=card_description(card.read_text()))
        if not client.get_registered_model(name).description and name in DESCRIPTIONS:
            client.update_registered_model(name, description=DESCRIPTIONS[name])
        finite = {k: float(v) for k, v in metrics.items() if _finite(v)}
        if finite:
            mlflow.log_metrics(finite, model_id=info.model_id)  # shown on the logged model's page
    else:
        number = str(version.version)
    moved = False
    if score is not None:
        metric, value = score
        client.set_model_version_tag(name, number, f"{SCORE_TAG}.{metric}", str(value))
        moved = promote(name, number, metric, float(value))
    return {"name": name, "version": number, "logged": logged, "champion_moved": moved, "digest": digest}


def card_description(card: str) -> str:
    """A model card as a version description: without its params (the run has them), within MLflow's 5000 characters."""
    text = card.split("\n## Parameters", 1)[0].rstrip()
    if len(text) > DESCRIPTION_CHARS:
        text = text[: DESCRIPTION_CHARS - 80].rstrip() + "\n\n… (the whole card: README.md among the model's artifacts)"
    return text


def promote(name: str, version: str, metric: str, value: float) -> bool:
    """Point `champion` at `version` when `value` beats the champion's `metric` (or there is no scored champion)."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    if not _finite(value):
        return False
    client = MlflowClient()
    try:
        champion = client.get_model_version_by_alias(name, CHAMPION)
    except MlflowException:  # no champion yet
        champion = None
    if champion is not None:
        if str(champion.version) == version:
            return False
        held = champion.tags.get(f"{SCORE_TAG}.{metric}")
        if held is not None and _finite(float(held)) and value <= float(held):
            return False
    client.set_registered_model_alias(name, CHAMPION, version)
    return True


def log_dataset(name: str, source: Path, digest: str, context: str, rows: Any) -> None:
    """A table as an MLflow dataset input of the active run: its name, content digest, source file, schema."""
    import mlflow

    dataset = mlflow.data.from_pandas(rows, source=str(Path(source).resolve()), name=name, digest=digest[:36])
    mlflow.log_input(dataset, context=context)


def _finite(value: Any) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False
