"""The two networks as MLflow pyfunc models: what `mlflow.pyfunc.load_model("models:/padflow-policy@champion")` returns.

Each wrapper holds no weights of its own: the exported folder (safetensors + config JSON +
README.md card) is the logged model's artifact `model`, loaded by the one loader the project has
(models/io.py through load_policy / load_parser). Loading needs padflow's environment and its
checkout on sys.path (the wrappers live in models/, beside the padflow package): the model's
requirements.txt pins that environment's versions.

    padflow-policy          input: uint8 RGB frames (N, H, W, 3), any size (the whole frame is the game
                            picture: crop and mask beforehand); params euler_steps (16), seed (0)
                            output: float32 (N, 16, 21) unified actions, padflow.actions order
    padflow-overlay-parser  input: a dict of the ParserBatch fields (padflow/overlay/crops.py): frames,
                            sticks, button_boxes, stick_travel, N pairs each
                            output: {"actions": float32 (N, 21), "confidence": float32 (N,)}
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import mlflow.pyfunc
import numpy as np
import torch
from mlflow.models import ModelSignature
from mlflow.types import ParamSchema, ParamSpec, Schema, TensorSpec

from models.overlay_parser import load_parser
from models.policy import CONFIG_FILE, load_policy, prepare_frames
from models.policy.processor import crop_mask_resize
from padflow.actions import ACTION_DIM
from padflow.overlay.crops import ParserBatch

POLICY_MODEL = "padflow-policy"
PARSER_MODEL = "padflow-overlay-parser"
MODEL_ARTIFACT = "model"  # key of the exported folder among the logged model's artifacts
DEFAULT_EULER_STEPS = 16  # the evaluate stage's headline player
DEFAULT_SEED = 0
EXAMPLE_EULER_STEPS = 1  # the stored input example's params (see pyfunc_for)


class PolicyModel(mlflow.pyfunc.PythonModel):
    """Frames in, sampled action chunks out; the frame preprocessing is the simulator's (no crop, no mask)."""

    def load_context(self, context) -> None:
        self.policy = load_policy(context.artifacts[MODEL_ARTIFACT])

    def predict(self, context, model_input, params=None):  # untyped: MLflow would otherwise check hints it cannot express
        frames = np.asarray(model_input, dtype=np.uint8)
        params = params or {}
        generator = torch.Generator().manual_seed(int(params.get("seed", DEFAULT_SEED)))
        inputs = prepare_frames(frames, None, None, "none", self.policy.cfg.image_size)
        chunk = self.policy.sample(inputs, steps=int(params.get("euler_steps", DEFAULT_EULER_STEPS)), generator=generator)
        return chunk.float().numpy()


class ParserModel(mlflow.pyfunc.PythonModel):
    """Overlay crop pairs in, the pad state and a per-pair confidence out."""

    def load_context(self, context) -> None:
        self.parser = load_parser(context.artifacts[MODEL_ARTIFACT])

    def predict(self, context, model_input, params=None):  # untyped: as PolicyModel.predict
        missing = [f for f in ParserBatch._fields if f not in model_input]
        if missing:
            raise ValueError(f"parser input lacks {', '.join(missing)}; it takes a dict of {', '.join(ParserBatch._fields)}")
        batch = ParserBatch(*(np.asarray(model_input[f]) for f in ParserBatch._fields))
        actions, confidence = self.parser.predict(batch)
        return {"actions": np.asarray(actions, np.float32), "confidence": np.asarray(confidence, np.float32)}


def policy_example(frame: np.ndarray, image_size: int) -> np.ndarray:
    """A (1, S, S, 3) input example from one game frame, at the policy's input size (keeps the stored example small)."""
    return crop_mask_resize(np.asarray(frame, np.uint8), None, None, "none", image_size)[None]


def policy_signature(horizon: int) -> ModelSignature:
    return ModelSignature(
        inputs=Schema([TensorSpec(np.dtype(np.uint8), (-1, -1, -1, 3))]),
        outputs=Schema([TensorSpec(np.dtype(np.float32), (-1, horizon, ACTION_DIM))]),
        params=ParamSchema([ParamSpec("euler_steps", "long", DEFAULT_EULER_STEPS), ParamSpec("seed", "long", DEFAULT_SEED)]),
    )


def parser_signature(example: dict[str, np.ndarray]) -> ModelSignature:
    return ModelSignature(
        inputs=Schema([TensorSpec(v.dtype, (-1, *v.shape[1:]), k) for k, v in example.items()]),
        outputs=Schema([TensorSpec(np.dtype(np.float32), (-1, ACTION_DIM), "actions"),
                        TensorSpec(np.dtype(np.float32), (-1,), "confidence")]),
    )


def pyfunc_for(name: str, folder: Path, example: Any) -> tuple[mlflow.pyfunc.PythonModel, ModelSignature, Any]:
    """The wrapper, signature and stored input example of registered model `name` for its exported `folder`
    (a policy's example frame is shrunk to the model's input size); ValueError for another name."""
    if name == POLICY_MODEL:
        config = json.loads((Path(folder) / CONFIG_FILE).read_text())["config"]  # sizes only, no weights loaded
        frames = np.asarray(example, np.uint8)
        frames = frames if frames.ndim == 4 else frames[None]
        example = policy_example(frames[0], int(config["image_size"]))
        # MLflow runs the stored example once when logging (a servability check): one Euler step keeps that to a
        # fraction of a second instead of 16 steps' seconds; `euler_steps` still defaults to 16 for callers.
        return PolicyModel(), policy_signature(int(config["action_horizon"])), (example, {"euler_steps": EXAMPLE_EULER_STEPS})
    if name == PARSER_MODEL:
        return ParserModel(), parser_signature(example), example
    raise ValueError(f"no pyfunc wrapper for model {name!r}; known: {POLICY_MODEL}, {PARSER_MODEL}")
