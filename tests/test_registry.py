"""The MLflow registry: policies logged as pyfunc models, registered once per weights, and the `champion` alias."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from models.policy import FlowMatchingPolicy, PolicyConfig, save_policy
from models.pyfunc import POLICY_MODEL, pyfunc_for
from padflow import registry, tracking

TINY = PolicyConfig(image_size=32, patch_size=8, vision_width=32, vision_layers=1, vision_heads=2, vision_mlp=64,
                    mixer_blocks=1, mixer_width=32, mixer_heads=2, dit_blocks=2, dit_width=64, dit_heads=4,
                    time_features=16)  # as tests/models/policy/test_modeling.py
FRAME = np.random.default_rng(0).integers(0, 255, (48, 64, 3), dtype=np.uint8)  # any size: the model resizes


def tiny_policy_folder(folder: Path, seed: int) -> Path:
    """An untrained tiny policy, saved as the train stage exports one."""
    torch.manual_seed(seed)
    return save_policy(FlowMatchingPolicy(TINY).eval(), folder)


def publish(root: Path, folder: Path, score: float | None) -> dict:
    """What the stage shell does with a stage's ModelExport (padflow.commands.stage.record_outputs)."""
    with tracking.stage_run(root, "train"):
        python_model, signature, example = pyfunc_for(POLICY_MODEL, folder, FRAME)
        return registry.publish(POLICY_MODEL, folder, python_model, example, signature,
                                {"val_loss": 0.5}, None if score is None else ("policy.overall", score))


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project folder with its own MLflow store (sqlite + artifacts), shared by this module's tests (making one
    takes seconds); each test publishes weights of its own seeds."""
    import mlflow

    root = tmp_path_factory.mktemp("project")
    with pytest.MonkeyPatch.context() as env:
        env.delenv("MLFLOW_TRACKING_URI", raising=False)
        tracking.setup(root)
        yield root
    mlflow.set_tracking_uri(None)


def test_the_champion_loads_with_mlflow_and_returns_actions_for_a_frame(store: Path):
    import mlflow

    outcome = publish(store, tiny_policy_folder(store / "policy", seed=0), score=0.3)
    assert outcome["logged"] and outcome["champion_moved"]  # the first scored version becomes champion

    model = mlflow.pyfunc.load_model(f"models:/{POLICY_MODEL}@{registry.CHAMPION}")
    chunk = model.predict(FRAME[None])
    assert chunk.shape == (1, 16, 21) and chunk.dtype == np.float32
    assert set(np.unique(chunk[..., :17])) <= {0.0, 1.0} and np.abs(chunk[..., 17:]).max() <= 1.0
    again = model.predict(FRAME[None], params={"euler_steps": 4, "seed": 0})
    assert np.array_equal(again, model.predict(FRAME[None], params={"euler_steps": 4, "seed": 0}))  # seeded
    info = mlflow.models.get_model_info(f"models:/{POLICY_MODEL}@{registry.CHAMPION}")
    assert info.signature.params.to_dict()[0] == {"name": "euler_steps", "type": "long", "default": 16, "shape": None}
    assert info.saved_input_example_info  # the example frame, at the model's input size


def test_the_alias_moves_only_when_a_version_beats_the_champion(store: Path):
    from mlflow import MlflowClient

    trained = tiny_policy_folder(store / "a", seed=10)
    registered = publish(store, trained, score=None)  # the train stage registers it, unscored
    assert registered["logged"] and not registered["champion_moved"]
    scored = publish(store, trained, score=0.5)  # evaluate scores the same weights: no second version
    assert (scored["version"], scored["logged"], scored["champion_moved"]) == (registered["version"], False, True)
    worse = publish(store, tiny_policy_folder(store / "b", seed=11), score=0.2)
    tie = publish(store, tiny_policy_folder(store / "c", seed=12), score=0.5)
    better = publish(store, tiny_policy_folder(store / "d", seed=13), score=0.7)
    assert [o["champion_moved"] for o in (worse, tie, better)] == [False, False, True]
    champion = MlflowClient().get_model_version_by_alias(POLICY_MODEL, registry.CHAMPION)
    assert str(champion.version) == better["version"]
    assert champion.tags["padflow.score.policy.overall"] == "0.7"


def test_the_overlay_parser_is_registered_and_reads_a_rendered_overlay(store: Path):
    import mlflow

    from models.overlay_parser import OverlayParser, ParserConfig, save_parser
    from models.pyfunc import PARSER_MODEL, ParserModel, parser_signature
    from padflow.overlay.library import load_library
    from padflow.overlay.synth import SynthConfig, render_split

    tiny = ParserConfig(crop_size=(64, 48), hidden_sizes=(8, 16, 24, 32), num_attention_heads=(1, 1, 1, 1), head_size=16, grid=5)
    torch.manual_seed(0)
    folder = save_parser(OverlayParser(tiny).eval(), store / "parser")
    backgrounds = [np.random.default_rng(0).integers(0, 255, (4, 120, 160, 3), dtype=np.uint8)]
    renders = render_split({"xbox-01": load_library().skins["xbox-01"]}, 1, backgrounds,
                           SynthConfig(crop_size=tiny.crop_size, frames_per_clip=2), seed=0, split="val")
    pair, _ = renders.pair_batch(np.arange(1))
    example = {field: np.asarray(value) for field, value in pair._asdict().items()}
    with tracking.stage_run(store, "parser_train"):
        outcome = registry.publish(PARSER_MODEL, folder, ParserModel(), example, parser_signature(example),
                                   {"final_loss": 1.0}, ("val_held_out_button_frame_accuracy", 0.5))
    assert outcome["champion_moved"]

    out = mlflow.pyfunc.load_model(f"models:/{PARSER_MODEL}@{registry.CHAMPION}").predict(example)
    assert out["actions"].shape == (1, 21) and out["confidence"].shape == (1,)
    assert 0.0 <= float(out["confidence"][0]) <= 1.0


def test_a_table_is_logged_as_a_dataset_with_its_digest_and_source(store: Path):
    import mlflow
    import pandas as pd

    rows = pd.DataFrame({"video_id": ["v0", "v1"], "licence": ["CC-BY-4.0", "unknown"]})
    (store / "chunks.parquet").write_bytes(b"")
    with tracking.stage_run(store, "train") as run:
        registry.log_dataset("chunk_index", store / "chunks.parquet", "0123456789abcdef" * 4, "training", rows)
    [logged] = mlflow.get_run(run.info.run_id).inputs.dataset_inputs
    assert (logged.dataset.name, logged.dataset.digest) == ("chunk_index", ("0123456789abcdef" * 4)[:36])
    assert str(store / "chunks.parquet") in logged.dataset.source
    assert [t.value for t in logged.tags if t.key == "mlflow.data.context"] == ["training"]
