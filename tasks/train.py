"""train: fit the flow-matching policy on the gate's accepted chunks, export its EMA weights.

The wiring of models/policy/: the chunk data (data.py: index → action chunks + frame cache,
split by video or game), the LightningModule (training.py), Lightning's EMA callback, and the
checkpoint conventions both networks share (models/training.py). With `init_from`, both arms start from
that policy folder's weights (e.g. the imported NitroGen release) and `trainable` says what trains
(models/policy/finetune.py); the export is always a plain policy folder.

Outputs (out_dir):
    checkpoints/last.ckpt   Lightning checkpoint (EMA weights in state_dict); a rerun resumes from it
    checkpoints/run.json    fingerprint of the config the checkpoint belongs to
    policy/                 EMA weights: policy.safetensors + policy_config.json (models.policy.load_policy)
                            + README.md, the model card (data digest and licences, params, metrics)
    loss_curve.png          training loss per step and validation loss per epoch
    blind/, checkpoints_blind/
                            with `blind_arm`: the same network trained the same way (data, seed, steps,
                            batches) with every frame replaced by a constant (PolicyConfig.frame_input
                            blind): evaluate's `blind` baseline, the answer to "does the policy look?";
                            its loss curve is blind/loss_curve.png. Without it, blind/ holds only a
                            README.md saying so (the folder is a DVC output either way)
    split.json              which videos trained and which validated
    frame_cache/            preprocessed chunk-start frames, one .npy per video

The stage shell logs policy/ as the MLflow model `padflow-policy` (a new version, once per weights;
models/pyfunc.py) and the chunk index as the run's dataset (digest: padflow.tables.data_fingerprint).

Resume needs out_dir kept between runs (checkpoints are not a DVC output): a rerun with the
same config and data continues from last.ckpt (the global step continues); a changed config or
new data starts afresh.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, field, replace
from pathlib import Path
from typing import Annotated, Any, Literal

import lightning.pytorch as pl
import numpy as np
import torch
from pydantic import Field

from models.policy import Augmentation, PolicyConfig, parameter_counts, policy_profile, save_policy
from models.policy.finetune import DEFAULT_LORA_RANK, Trainable, trainable_count, weights_digest
from models.policy.data import ChunkDataModule, SplitBy
from models.card import index_provenance, write_card
from models.policy.processor import MaskPolicy, crop_mask_resize
from models.policy.training import PolicyModule, policy_ema, resolve_precision
from models.training import (
    CHECKPOINT_DIR, LAST_CHECKPOINT, TrainingProgress, fingerprint, last_checkpoint, stage_logger, start_or_resume)
from padflow.config import config, from_mapping
from padflow.io import replaced_dir, save_figure, write_json
from padflow.stages import DatasetInput, ModelExport, StageResult
from padflow.tables import OVERLAY_LABELS, chunk_label_source, data_fingerprint, merge_chunk_indexes, read_chunk_index, write_chunk_index
from padflow.video import read_frames_at

POLICY_DIR = "policy"
BLIND_DIR = "blind"  # the blind arm's export, beside POLICY_DIR
NO_BLIND_ARM = """# No blind arm

This run trained the policy alone (`train.blind_arm` was false), so there is no blind policy here.
Evaluate's `blind` baseline needs one: set `train.blind_arm: true` and train again, or drop `blind`
from `evaluate.baselines`.
"""
BLIND_PREFIX = "blind."  # the blind arm's metrics: blind.val_loss, ...
POLICY_MODEL = "padflow-policy"  # registered model name (models/pyfunc.py wraps it)
Precision = Literal["auto", "32-true", "bf16-mixed", "16-mixed"]
LabelSource = Literal["overlay", "idm"]  # padflow.tables LABEL_SOURCES
MERGED_INDEX = "chunks.parquet"  # out_dir's index of the chunks of every label source trained on
# Knobs that change neither the model nor its training trajectory: a rerun that only changes
# these still resumes from last.ckpt.
RUNTIME_ONLY = ("num_workers", "torch_threads", "accelerator", "devices", "num_nodes", "strategy", "frame_cache_dir", "log_every_n_steps")


@config
class TrainConfig:
    model: Annotated[str, Field(description="which entry of `models` to train")]
    models: Annotated[dict[str, Any], Field(description="named policy sizes: name → PolicyConfig fields (models/policy/configuration.py)")]
    index: Annotated[str, Field(description="the gate's accepted-chunk index (overlay labels)")] = "data/gate/chunks.parquet"
    pseudo_index: Annotated[str, Field(description=(
        "pseudo_label's chunk index (labels the IDM inferred for overlay-free videos)"))] = "data/pseudo_label/chunks.parquet"
    label_sources: Annotated[tuple[LabelSource, ...], Field(min_length=1, description=(
        "whose labels train the policy: overlay (the gate's index) and/or idm (pseudo_index); docs/idm.md measures "
        "what pseudo-labels add"))] = ("overlay",)
    init_from: Annotated[str | None, Field(description=(
        "policy folder whose weights start training (a train export, or `padflow policy import-nitrogen`'s for the "
        "released checkpoint); its architecture must be the model entry's; null = random init (docs/nitrogen.md)"))] = None
    trainable: Annotated[Trainable, Field(description=(
        "what trains: all | freeze_vision | freeze_vision_mixer (the action head only) | lora (adapters on every "
        "attention projection, merged into the export); why each: models/policy/finetune.py"))] = "all"
    lora_rank: Annotated[int, Field(ge=1, description="rank of each LoRA adapter (trainable: lora)")] = DEFAULT_LORA_RANK
    lora_alpha: Annotated[float, Field(gt=0, description=(
        "LoRA scale numerator: updates are scaled by lora_alpha / lora_rank, so a rank change keeps the update's "
        "size and the learning rate (Hu et al. 2021, section 4.1)"))] = 16.0
    max_steps: Annotated[int, Field(ge=1, description="optimizer steps in all (the schedule is laid out over these)")] = 600
    batch_size: Annotated[int, Field(ge=1, description=(
        "chunks per optimizer step; 16 for 600 steps sees what 32 for 300 does with twice the updates, which the flow "
        "lacks at CPU budgets (docs/results-evaluation.md)"))] = 16
    lr: Annotated[float, Field(gt=0, description=(
        "AdamW rate of the stable phase; NitroGen's 1e-4 is for a 500M model over many steps, too slow for 600 CPU steps"))] = 0.001
    warmup_share: Annotated[float, Field(ge=0, le=1, description="share of max_steps warming up linearly from 0")] = 0.05
    decay_share: Annotated[float, Field(ge=0, le=1, description="share of max_steps decaying linearly to min_lr_ratio·lr at the end")] = 0.2
    min_lr_ratio: Annotated[float, Field(ge=0, le=1, description="final rate as a share of lr")] = 0.0
    weight_decay: Annotated[float, Field(ge=0, description="AdamW decoupled weight decay")] = 0.001
    betas: Annotated[tuple[float, float], Field(description="AdamW moment decays")] = (0.9, 0.95)
    ema_decay: Annotated[float, Field(ge=0, lt=1, description=(
        "weight EMA; every reported metric and the export use the EMA weights. 0.98 averages over ~50 steps, a twelfth "
        "of a 600-step run; NitroGen's 0.9999 averages over ~10k steps and would still be mostly the random init"))] = 0.98
    grad_clip: Annotated[float, Field(gt=0, description="gradient norm clip")] = 1.0
    precision: Annotated[Precision, Field(
        description="Lightning precision; auto = bf16-mixed on a GPU that has bf16, else 32-true")] = "auto"
    accelerator: Annotated[str, Field(description="Lightning accelerator: auto | cpu | gpu | ...")] = "auto"
    devices: Annotated[str | int, Field(description="Lightning devices: auto, a count, or a list string")] = "auto"
    num_nodes: Annotated[int, Field(ge=1, description="Lightning nodes")] = 1
    strategy: Annotated[str, Field(description="Lightning strategy, e.g. ddp for several devices")] = "auto"
    val_fraction: Annotated[float, Field(gt=0, lt=1, description="share of videos (or games) held out for validation")] = 0.2
    split_by: Annotated[SplitBy, Field(description=(
        "the unit that never straddles train and validation: video (new videos of games training also sees) | game (unseen games)"))] = "video"
    val_every_n_epochs: Annotated[int, Field(ge=1, description=(
        "epochs between validations (each samples val_chunk_samples chunks x sample_steps steps per validation chunk); "
        "the final validation always runs"))] = 4
    checkpoint_every_n_steps: Annotated[int, Field(ge=1, description="last.ckpt is refreshed every this many optimizer steps")] = 50
    sample_steps: Annotated[int, Field(ge=1, description="Euler steps when sampling chunks for the validation metrics")] = 16
    # One sample carries the policy's sampling noise: a perfect policy's single sample has an
    # expected squared error of twice the conditional variance, so it can lose to the mean
    # baseline on MSE; and one draw of presses that happen 5-15 % of the time is mostly luck.
    val_chunk_samples: Annotated[int, Field(ge=1, description=(
        "sampled chunks per validation chunk: button F1 counts the presses of each, stick MSE scores their mean"))] = 8
    blind_arm: Annotated[bool, Field(description=(
        "also train the blind baseline: the same network, data, seed, batches and steps with every frame replaced "
        "by a constant (exported to blind/ for evaluate's `blind` player); adds about 0.6 of the policy's training time"))] = True
    mask_policy: Annotated[MaskPolicy, Field(description="the controller overlay: black (pixels set to 0) | none (left visible)")] = "black"
    augmentation: Annotated[Augmentation, Field(description="training-only jitter of the frames")] = field(default_factory=Augmentation)
    num_workers: Annotated[int, Field(ge=0, description="DataLoader workers; frames are pre-decoded, so 0 is usually enough")] = 0
    torch_threads: Annotated[int, Field(ge=0, description="CPU threads for torch ops; 0 = torch's default (fewer help on a shared machine)")] = 0
    frame_cache_dir: Annotated[str, Field(description="preprocessed chunk-start frames, reused while video, boxes, mask and size are unchanged")] = "data/train/frame_cache"
    log_every_n_steps: Annotated[int, Field(ge=1, description="optimizer steps between Lightning's logged training losses")] = 10
    out_dir: Annotated[str, Field(description="checkpoints, the exported policy, split.json and the loss curve")] = "data/train"

    def __post_init__(self) -> None:
        if self.model not in self.models:
            raise ValueError(f"model {self.model!r} is not one of models: {', '.join(self.models) or '(none)'}")
        if self.warmup_share + self.decay_share > 1:
            raise ValueError(f"warmup_share + decay_share must be within [0, 1], got {self.warmup_share} + {self.decay_share}")
        self.policy_config()  # a bad model entry fails here, naming its field
        if len(set(self.label_sources)) != len(self.label_sources):
            raise ValueError(f"label_sources lists a source twice: {list(self.label_sources)}")
        if self.trainable in ("freeze_vision_mixer", "lora") and not self.init_from:
            raise ValueError(f"trainable {self.trainable!r} freezes weights that would stay random: set init_from")
        if self.trainable == "freeze_vision" and not (self.init_from or self.policy_config().pretrained):
            raise ValueError("trainable 'freeze_vision' freezes a random vision tower: set init_from, or the model's "
                             "pretrained vision weights")

    def policy_config(self) -> PolicyConfig:
        return policy_profile(self.models, self.model)

    def init_path(self, root: Path) -> Path | None:
        """The init_from folder, relative to the project root unless absolute."""
        return root / self.init_from if self.init_from else None


def training_index(cfg: TrainConfig, root: Path) -> Path:
    """The chunk index this config trains on: the gate's as it is for overlay labels alone, else the chunks of every
    source in label_sources, merged into out_dir/chunks.parquet (padflow.tables.merge_chunk_indexes)."""
    if tuple(cfg.label_sources) == (OVERLAY_LABELS,):
        return root / cfg.index
    pseudo = root / cfg.pseudo_index
    if not pseudo.is_file():
        raise ValueError(f"train.label_sources {list(cfg.label_sources)} asks for IDM labels, but {pseudo} does not exist: "
                         "run the pseudo_label stage first (train.pseudo_index names its chunk index)")
    paths = ([root / cfg.index] if OVERLAY_LABELS in cfg.label_sources else []) + [pseudo]
    merged = merge_chunk_indexes(paths, cfg.label_sources)
    return write_chunk_index(merged, root / cfg.out_dir / MERGED_INDEX)


def config_fingerprint(cfg: TrainConfig, root: Path, seed: int, data: str, policy_cfg: PolicyConfig | None = None) -> str:
    """What a checkpoint must share with this run to be resumed: the config, the seed, the network (the blind arm's
    differs in frame_input), the data (`data_fingerprint`) and the init weights (a re-import into the same folder is
    another start)."""
    record = {k: v for k, v in asdict(cfg).items() if k not in RUNTIME_ONLY and k != "blind_arm"}
    init = cfg.init_path(root)
    return fingerprint({**record, "seed": seed, "policy": asdict(policy_cfg or cfg.policy_config()), "data": data,
                        "init_weights": weights_digest(init) if init else None})


def loss_curve(train_losses: list[float], val: list[dict[str, float]], path: Path) -> Path:
    import matplotlib  # here, not at import: the file-only backend is chosen before pyplot loads

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
    steps = np.arange(1, len(train_losses) + 1)
    ax.plot(steps, train_losses, color="#9dc3e6", linewidth=0.8, label="train loss (step)")
    window = max(1, len(train_losses) // 20)
    if len(train_losses) >= window > 1:
        smooth = np.convolve(train_losses, np.ones(window) / window, mode="valid")
        ax.plot(steps[window - 1 :], smooth, color="#2f5597", label=f"train loss ({window}-step mean)")
    if val:
        ax.plot([v["step"] for v in val], [v["val/loss"] for v in val], "o-", color="#c00000", label="val loss (EMA)")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("flow-matching loss")
    ax.set_yscale("log")
    ax.legend()
    fig.tight_layout()
    return save_figure(fig, path)


def train(cfg: TrainConfig, root: Path, seed: int, blind: bool = False) -> dict[str, Any]:
    """Fit (or resume) the policy, export its EMA weights; returns metrics, curves and paths.

    blind: train the blind arm instead (frame_input blind; its own checkpoints, export and curve). Both arms
    seed the same way, so they see the same split, batches, noise and times: only the picture differs."""
    pl.seed_everything(seed, workers=True)
    if cfg.torch_threads:
        torch.set_num_threads(cfg.torch_threads)
    out_dir = root / cfg.out_dir
    suffix = f"_{BLIND_DIR}" if blind else ""
    checkpoint_dir = out_dir / f"{CHECKPOINT_DIR}{suffix}"
    policy_cfg = replace(cfg.policy_config(), frame_input="blind") if blind else cfg.policy_config()
    index = training_index(cfg, root)
    run_fingerprint = config_fingerprint(cfg, root, seed, data_fingerprint(index, root), policy_cfg)
    resume, resumed_from = start_or_resume(checkpoint_dir, run_fingerprint, {"config": asdict(cfg), "seed": seed, "blind": blind})

    data = ChunkDataModule(replace(cfg, index=str(index)), root, seed)
    data.setup("fit")
    write_json(out_dir / "split.json", data.split)
    module = PolicyModule(policy_cfg, cfg, data.train_mean_action(), init=cfg.init_path(root))
    on_cpu = cfg.accelerator == "cpu" or (cfg.accelerator == "auto" and not torch.cuda.is_available())
    checkpoint = last_checkpoint(checkpoint_dir, every_n_train_steps=cfg.checkpoint_every_n_steps)
    logger = stage_logger()
    trainer = pl.Trainer(
        max_steps=cfg.max_steps, max_epochs=-1, accelerator=cfg.accelerator, devices=cfg.devices,
        num_nodes=cfg.num_nodes, strategy=cfg.strategy, precision=resolve_precision(cfg),
        gradient_clip_val=cfg.grad_clip, deterministic=True if on_cpu else "warn",
        callbacks=[policy_ema(cfg.ema_decay), checkpoint, TrainingProgress("train" + (" (blind arm)" if blind else ""))], logger=logger if logger else False,
        check_val_every_n_epoch=cfg.val_every_n_epochs, log_every_n_steps=cfg.log_every_n_steps,
        enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0, default_root_dir=out_dir,
    )
    trainer.fit(module, datamodule=data, ckpt_path=resume, weights_only=True)
    # After fit the module holds the EMA weights (policy_ema copies them in at the end);
    # the final validation therefore scores exactly what is exported.
    final = trainer.validate(module, datamodule=data, verbose=False, weights_only=True)[0]
    trainer.save_checkpoint(checkpoint_dir / LAST_CHECKPOINT, weights_only=False)
    # The blind arm's curve lives in its folder, so that without a blind arm one output (blind/) says so.
    policy_dir = out_dir / (BLIND_DIR if blind else POLICY_DIR)
    curve = policy_dir / "loss_curve.png" if blind else out_dir / "loss_curve.png"
    exported = module.export_policy()
    counts = parameter_counts(exported)
    metrics = {k.replace("/", "_"): round(float(v), 6) for k, v in final.items()}
    metrics.update({
        "global_step": int(trainer.global_step),
        "resumed_from_step": resumed_from,
        "train_chunks": data.split["train_chunks"],
        **{f"chunks_{source}": int(n) for source, n in zip(*np.unique(chunk_label_source(read_chunk_index(index)), return_counts=True))},
        "val_chunks": data.split["val_chunks"],
        "val_game_mean_stick_mse": round(data.val_game_mean_stick_mse, 6),
        "parameters": counts["total"],
        "trained_parameters": trainable_count(module.policy),
        "final_train_loss": round(float(np.mean(module.train_losses[-10:])), 6) if module.train_losses else math.nan,
    })
    provenance = index_provenance(index, root)
    if trainer.is_global_zero:
        with replaced_dir(policy_dir) as new_policy:  # the previous policy stays whole until this one is
            save_policy(exported, new_policy)
            write_policy_card(new_policy, cfg, seed, metrics, provenance, blind)
        loss_curve(module.train_losses, module.val_history, curve)
    return {"metrics": metrics, "curves": {"train_loss": module.train_losses}, "policy_dir": policy_dir, "curve": curve,
            "data": provenance, "index": index}


def write_policy_card(folder: Path, cfg: TrainConfig, seed: int, metrics: Mapping[str, float], data: Mapping[str, Any],
                      blind: bool = False) -> Path:
    """README.md in the exported policy folder: what it is, its data (digest, licences), params, metrics, use."""
    blind_note = ("**The blind baseline**: every frame is replaced by a constant picture, so it plays from the action "
                  "statistics of its data alone; it exists to be compared with the policy that sees. ") if blind else ""
    start = f"Fine-tuned from the policy in `{cfg.init_from}` (trainable: {cfg.trainable}, lr {cfg.lr:g}). " if cfg.init_from else ""
    return write_card(
        folder, title="padflow flow-matching policy" + (" (blind baseline)" if blind else ""),
        summary=(blind_note + start + f"A `{cfg.model}` flow-matching vision-action policy ({metrics.get('parameters', 0):,} parameters) trained by "
                 "padflow's train stage on gameplay videos whose actions were read from their gamepad overlay. Input: one RGB "
                 f"game frame (overlay {'blacked out' if cfg.mask_policy == 'black' else 'left visible'} in training); output: a "
                 f"{cfg.policy_config().action_horizon}-step chunk of unified gamepad actions (17 buttons, 4 stick axes). "
                 "These are the EMA weights; every metric below scores them."),
        data=data, params={"train": asdict(cfg), "seed": seed}, metrics=metrics,
        intended_use=("Research on vision-action agents for games: play padflow's simulator tasks (`padflow play TASK "
                      "--player policy`), fine-tune, compare checkpoints. Not for games or uses the data's licences exclude."),
        limitations=("Trained on the videos listed above only; completion rates in games are measured by the evaluate stage "
                     "(data/evaluate/rates.md, and the `padflow.score.*` tags of its MLflow model version), not here."),
        usage=("```python\nfrom models.policy import FlowMatchingPolicy\npolicy = FlowMatchingPolicy.from_pretrained(\"this/folder\")"
               "\n# or, registered in MLflow:\nimport mlflow\nmodel = mlflow.pyfunc.load_model(\"models:/padflow-policy@champion\")"
               "\nchunks = model.predict(frames_uint8_nhwc)  # (N, 16, 21)\n```"),
        tags=["flow-matching", "vision-action", "gamepad"],
    )


def example_frame(index_path: Path, root: Path, cfg: TrainConfig) -> np.ndarray:
    """The first chunk's start frame as the model sees it (game box cropped, overlay masked): the input example the
    registered policy is logged with."""
    first = read_chunk_index(index_path).iloc[0]
    frame = read_frames_at(root / str(first["video_path"]), [int(first["start_frame"])])[int(first["start_frame"])]
    boxes = [None if b is None else tuple(int(v) for v in b) for b in (first["game_box"], first["overlay_box"])]
    return crop_mask_resize(frame, boxes[0], boxes[1], cfg.mask_policy, cfg.policy_config().image_size)


def chunk_dataset(index_path: Path, digest: str) -> DatasetInput:
    """The chunk index as an MLflow dataset (list columns as text: MLflow's schema has no fixed-size lists)."""
    rows = read_chunk_index(index_path)
    for column in ("overlay_box", "game_box", "observed"):
        if column in rows:
            rows[column] = rows[column].map(lambda v: json.dumps(np.asarray(v).tolist()))
    return DatasetInput(name="chunk_index", source=index_path, digest=digest, context="training", rows=rows)


def stage(params: Mapping[str, Any], root: Path) -> StageResult:
    """The DVC stage: train on data/gate/chunks.parquet, export data/train/policy."""
    cfg = from_mapping(TrainConfig, params.get("train"), "train")
    seed = int(params.get("seed", 0))
    result = train(cfg, root, seed)
    out_dir = root / cfg.out_dir
    index = result["index"]
    metrics = dict(result["metrics"])
    # the policy folder itself is logged once, as the registered MLflow model; the blind arm's as files
    artifacts = {"train/plots": result["curve"], "train": out_dir / "split.json"}
    if cfg.blind_arm:
        blind = train(cfg, root, seed, blind=True)
        metrics.update({BLIND_PREFIX + k: v for k, v in blind["metrics"].items() if k.startswith(("val_", "final_", "global_"))})
        artifacts.update({"train/plots/blind": blind["curve"], "train/blind": blind["policy_dir"]})
    else:
        with replaced_dir(out_dir / BLIND_DIR) as no_blind:  # an earlier run's blind arm would not match this policy
            (no_blind / "README.md").write_text(NO_BLIND_ARM)
    return StageResult(
        params={"train": asdict(cfg), "seed": seed},
        metrics=metrics,
        artifacts=artifacts,
        curves=result["curves"],
        models=[ModelExport(POLICY_MODEL, result["policy_dir"], example_frame(index, root, cfg))],
        datasets=[chunk_dataset(index, result["data"]["digest"])],
    )
