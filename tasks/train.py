"""train: fit the flow-matching policy on the gate's accepted chunks, export its EMA weights.

Input: the accepted-chunk index (tasks.gate CHUNK_INDEX_SCHEMA): per chunk a normalized video,
its action table, the first frame, the chunk length and the game / overlay boxes. The policy
sees the chunk's first frame (overlay masked, game box cropped, resized: models/preprocess.py)
and learns the chunk's actions.

Data path: each video is decoded once; the frames that start a chunk are preprocessed to the
model's input size and kept as one uint8 array per video in `frame_cache_dir` (reused by later
runs while the video, boxes, mask and size are unchanged). Augmentation runs on the batch, on
the training device. Train and validation never share a video (or a game, `split_by: game`);
by video, validation holds new videos of games that training also sees (see split_videos).

Outputs (out_dir):
    checkpoints/last.ckpt   Lightning checkpoint (EMA weights in state_dict); a rerun resumes from it
    checkpoints/run.json    fingerprint of the config the checkpoint belongs to
    policy/                 EMA weights: policy.safetensors + policy_config.json (models.policy.load_policy)
    loss_curve.png          training loss per step and validation loss per epoch
    split.json              which videos trained and which validated
    frame_cache/            preprocessed chunk-start frames, one .npy per video

Resume needs out_dir kept between runs (`persist: true` in dvc.yaml): a rerun with the same
config continues from last.ckpt (the global step continues); a changed config starts afresh.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import shutil
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import torch

from models.policy import PolicyConfig, parameter_counts, policy_profile, save_policy
from models.preprocess import MASK_POLICIES, Augmentation, crop_mask_resize
from padflow.actions import AXIS_SLICE, BUTTON_SLICE
from padflow.config import from_mapping
from padflow.io import atomic_path, file_sha256, save_figure, write_json
from padflow.stages import StageResult
from padflow.tables import read_action_table, table_to_actions

log = logging.getLogger(__name__)

CHECKPOINT_DIR = "checkpoints"
LAST_CHECKPOINT = "last.ckpt"
RUN_RECORD = "run.json"
POLICY_DIR = "policy"
INDEX_COLUMNS = ("video_id", "video_path", "table_path", "start_frame", "frames", "overlay_box", "game_box", "game")
SPLITS = ("video", "game")
PRECISIONS = ("auto", "32-true", "bf16-mixed", "16-mixed")
# Knobs that change neither the model nor its training trajectory: a rerun that only changes
# these still resumes from last.ckpt.
RUNTIME_ONLY = ("num_workers", "torch_threads", "accelerator", "devices", "num_nodes", "strategy", "frame_cache_dir", "log_every_n_steps")


@dataclass(frozen=True)
class TrainConfig:
    model: str  # which entry of `models` to train
    models: dict[str, Any]  # named policy sizes: name → PolicyConfig fields (models/policy.py)
    index: str = "data/gate/chunks.parquet"  # the accepted-chunk index
    max_steps: int = 300  # optimizer steps in all (the schedule is laid out over these)
    batch_size: int = 32
    lr: float = 1e-4  # learning rate of the stable phase
    warmup_share: float = 0.05  # share of max_steps warming up linearly from 0
    decay_share: float = 0.2  # share of max_steps decaying linearly to min_lr_ratio·lr at the end
    min_lr_ratio: float = 0.0
    weight_decay: float = 0.001  # AdamW
    betas: tuple[float, float] = (0.9, 0.95)  # AdamW
    ema_decay: float = 0.9999  # weight EMA; every reported metric and the export use the EMA weights
    grad_clip: float = 1.0  # gradient norm clip
    precision: str = "auto"  # auto = bf16-mixed on a GPU that has bf16, else 32-true
    accelerator: str = "auto"  # Lightning accelerator: auto | cpu | gpu | ...
    devices: str | int = "auto"  # Lightning devices: auto, a count, or a list string
    num_nodes: int = 1
    strategy: str = "auto"  # Lightning strategy, e.g. ddp for several devices
    val_fraction: float = 0.2  # share of videos (or games) held out for validation
    split_by: str = "video"  # video (new videos of known games) | game (unseen games): the unit that never straddles train and validation
    val_every_n_epochs: int = 1
    checkpoint_every_n_steps: int = 50  # last.ckpt is refreshed every this many optimizer steps
    sample_steps: int = 16  # Euler steps when sampling chunks for the validation metrics
    # Sampled chunks per validation chunk: button F1 counts the presses of each, stick MSE scores
    # their mean. One sample carries the policy's sampling noise: a perfect policy's single sample
    # has an expected squared error of twice the conditional variance, so it can lose to the mean
    # baseline on MSE; and one draw of presses that happen 5-15 % of the time is mostly luck.
    val_chunk_samples: int = 8
    mask_policy: str = "black"  # what to do with the controller overlay: black | none
    augmentation: Augmentation = field(default_factory=Augmentation)
    num_workers: int = 0  # DataLoader workers; frames are pre-decoded, so 0 is usually enough
    torch_threads: int = 0  # CPU threads for torch ops; 0 = torch's default (fewer help on a shared machine)
    frame_cache_dir: str = "data/train/frame_cache"
    log_every_n_steps: int = 10
    out_dir: str = "data/train"

    def __post_init__(self) -> None:
        if self.model not in self.models:
            raise ValueError(f"model {self.model!r} is not one of models: {', '.join(self.models) or '(none)'}")
        for name in ("max_steps", "batch_size", "val_every_n_epochs", "checkpoint_every_n_steps", "sample_steps",
                     "val_chunk_samples", "num_nodes", "log_every_n_steps"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.lr <= 0 or self.weight_decay < 0 or self.grad_clip <= 0:
            raise ValueError("lr and grad_clip must be > 0, weight_decay >= 0")
        if self.warmup_share < 0 or self.decay_share < 0 or self.warmup_share + self.decay_share > 1:
            raise ValueError(f"warmup_share + decay_share must be within [0, 1], got {self.warmup_share} + {self.decay_share}")
        if not 0 <= self.min_lr_ratio <= 1:
            raise ValueError(f"min_lr_ratio must be in [0, 1], got {self.min_lr_ratio}")
        if not 0 <= self.ema_decay < 1:
            raise ValueError(f"ema_decay must be in [0, 1), got {self.ema_decay}")
        if not 0 < self.val_fraction < 1:
            raise ValueError(f"val_fraction must be in (0, 1), got {self.val_fraction}")
        if self.split_by not in SPLITS:
            raise ValueError(f"split_by {self.split_by!r} not one of {SPLITS}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision {self.precision!r} not one of {PRECISIONS}")
        if self.mask_policy not in MASK_POLICIES:
            raise ValueError(f"mask_policy {self.mask_policy!r} not one of {MASK_POLICIES}")
        if self.num_workers < 0 or self.torch_threads < 0:
            raise ValueError(f"num_workers and torch_threads must be >= 0, got {self.num_workers}, {self.torch_threads}")
        self.policy_config()  # a bad model entry fails here, naming its field

    def policy_config(self) -> PolicyConfig:
        return policy_profile(self.models, self.model)


def wsd_lr_factor(step: int, total: int, warmup_share: float, decay_share: float, min_ratio: float) -> float:
    """Warmup-stable-decay multiplier of the base learning rate at optimizer step `step`."""
    warmup = round(total * warmup_share)
    decay = round(total * decay_share)
    if step < warmup:
        return (step + 1) / warmup
    decay_start = total - decay
    if step < decay_start:
        return 1.0
    done = min((step - decay_start + 1) / max(decay, 1), 1.0)
    return 1.0 - (1.0 - min_ratio) * done


# --- data -------------------------------------------------------------------------------------


def read_chunk_index(path: Path) -> Any:
    """The gate's chunk index as a DataFrame; ValueError names a missing file or column."""
    if not path.is_file():
        raise ValueError(f"{path}: no chunk index; run the gate stage first")
    df = pq.read_table(path).to_pandas()
    missing = [c for c in INDEX_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"{path}: chunk index lacks column(s) {', '.join(missing)}")
    if df.empty:
        raise ValueError(f"{path}: chunk index has no chunks; nothing to train on")
    return df.reset_index(drop=True)


def split_videos(index: Any, val_fraction: float, split_by: str, seed: int) -> tuple[list[str], list[str]]:
    """Seeded split of the index's videos (or games) into (train, validation) groups.

    By game, whole games are held out. By video, validation is new videos of games training
    knows: `val_fraction` of the videos, taken one per game in turn (seeded order), and only from
    games that keep a training video; games with a single video train. Only when that cannot
    fill the share (every game has one video) do whole games go to validation.
    """
    if split_by == "game":
        games = sorted(index["game"].astype(str).unique())
        if len(games) < 2:
            raise ValueError(f"chunk index has {len(games)} game(s); validation needs one that training never sees")
        order = np.random.default_rng(seed).permutation(len(games))
        n_val = min(max(1, round(len(games) * val_fraction)), len(games) - 1)
        val = sorted(games[i] for i in order[:n_val])
        return [g for g in games if g not in val], val
    videos = sorted(index["video_id"].astype(str).unique())
    if len(videos) < 2:
        raise ValueError(f"chunk index has {len(videos)} video(s); validation needs one that training never sees")
    rng = np.random.default_rng(seed)
    n_val = min(max(1, round(len(videos) * val_fraction)), len(videos) - 1)
    game_of = dict(zip(index["video_id"].astype(str), index["game"].astype(str)))
    by_game: dict[str, list[str]] = {}
    for video in videos:
        by_game.setdefault(game_of[video], []).append(video)
    queues = {game: [vids[i] for i in rng.permutation(len(vids))] for game, vids in sorted(by_game.items())}
    names = list(queues)  # sorted: the seeded order below does not depend on the index's row order
    games = [names[i] for i in rng.permutation(len(names))]
    val: list[str] = []
    while len(val) < n_val:
        takers = [g for g in games if len(queues[g]) > 1][: n_val - len(val)]
        if not takers:
            break
        val += [queues[g].pop() for g in takers]
    rest = [v for g in games for v in queues[g]]
    val += rest[: n_val - len(val)]  # every game down to one video: whole games go to validation
    val = sorted(val)
    return [v for v in videos if v not in val], val


def game_mean_stick_mse(actions: np.ndarray, games: np.ndarray, is_val: np.ndarray) -> float:
    """Validation stick MSE of predicting each chunk's game's training mean (the global one for games training lacks).

    A reference next to the mean baseline: it knows the game but not the moment, so a policy
    beats it only by reading the game state from the frame. actions (N, H, 21), games (N,), is_val (N,).
    """
    sticks = actions[..., AXIS_SLICE]
    overall = sticks[~is_val].reshape(-1, sticks.shape[-1]).mean(0)
    guess = np.empty_like(sticks[is_val])
    for game in np.unique(games[is_val]):
        trained = ~is_val & (games == game)
        guess[games[is_val] == game] = sticks[trained].reshape(-1, sticks.shape[-1]).mean(0) if trained.any() else overall
    return float(((guess - sticks[is_val]) ** 2).mean())


def table_frame_offset(table_path: Path) -> int:
    """Video frame of the table's row 0: `frame_offset` of the record beside the table (imported labels), else 0."""
    record = table_path.with_suffix(".json")
    if record.is_file():
        return int(json.loads(record.read_text()).get("frame_offset", 0) or 0)
    return 0


def chunk_actions(index: Any, root: Path, horizon: int) -> np.ndarray:
    """(N, horizon, 21) float32 action chunks for every row of the index."""
    out = np.zeros((len(index), horizon, 21), np.float32)
    tables: dict[str, tuple[np.ndarray, int]] = {}
    for i, row in enumerate(index.itertuples()):
        if int(row.frames) != horizon:
            raise ValueError(f"chunk {i} of {row.table_path} has {row.frames} frames; the policy predicts {horizon}")
        if row.table_path not in tables:
            path = root / row.table_path
            tables[row.table_path] = (table_to_actions(read_action_table(path)), table_frame_offset(path))
        actions, offset = tables[row.table_path]
        start = int(row.start_frame) - offset
        if start < 0 or start + horizon > len(actions):
            raise ValueError(f"{row.table_path}: chunk at frame {row.start_frame} runs outside the table ({len(actions)} rows)")
        out[i] = actions[start : start + horizon]
    return out


def _cache_key(video: Path, frames: list[int], game_box: tuple, overlay_box: tuple, mask_policy: str, size: int) -> str:
    stat = video.stat()
    text = json.dumps([str(video.resolve()), stat.st_size, stat.st_mtime_ns, frames, game_box, overlay_box, mask_policy, size])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def decode_frames(video: Path, wanted: list[int]) -> dict[int, np.ndarray]:
    """The given frame numbers of a video as uint8 RGB, decoding it once from the start."""
    import av

    wanted_set, last = set(wanted), max(wanted)
    found: dict[int, np.ndarray] = {}
    try:
        with av.open(str(video)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            for n, frame in enumerate(container.decode(stream)):
                if n in wanted_set:
                    found[n] = frame.to_ndarray(format="rgb24")
                if n >= last:
                    break
    except (av.error.FFmpegError, OSError) as exc:
        raise ValueError(f"{video}: cannot decode ({exc})") from None
    if len(found) != len(wanted_set):
        raise ValueError(f"{video}: has no frame {min(wanted_set - set(found))} (the index points past its end)")
    return found


def cache_chunk_frames(index: Any, root: Path, cache_dir: Path, mask_policy: str, image_size: int) -> tuple[list[np.ndarray], np.ndarray]:
    """Preprocessed chunk-start frames: one uint8 (n, S, S, 3) array per (video, boxes), and each row's (array, slot)."""
    arrays: list[np.ndarray] = []
    refs = np.zeros((len(index), 2), np.int64)
    keys = [(r.video_path, tuple(int(v) for v in r.game_box), tuple(int(v) for v in r.overlay_box)) for r in index.itertuples()]
    groups: dict[tuple, list[int]] = {}
    for i, key in enumerate(keys):
        groups.setdefault(key, []).append(i)
    for (video_path, game_box, overlay_box), rows in groups.items():
        video = root / video_path
        if not video.is_file():
            raise ValueError(f"{video}: video named by the chunk index is missing")
        frames = sorted({int(index.at[i, "start_frame"]) for i in rows})
        path = cache_dir / f"{Path(video_path).stem}-{_cache_key(video, frames, game_box, overlay_box, mask_policy, image_size)}.npy"
        if not path.is_file():
            decoded = decode_frames(video, frames)
            stack = np.stack([crop_mask_resize(decoded[f], game_box, overlay_box, mask_policy, image_size) for f in frames])
            with atomic_path(path) as tmp:
                with tmp.open("wb") as f:
                    np.save(f, stack)
        slot = {f: s for s, f in enumerate(frames)}
        refs[rows, 0] = len(arrays)
        refs[rows, 1] = [slot[int(index.at[i, "start_frame"])] for i in rows]
        arrays.append(np.load(path, mmap_mode="r"))
    return arrays, refs


class ChunkDataset(torch.utils.data.Dataset):
    """(chunk-start frame uint8 (S, S, 3), action chunk (H, 21)) pairs."""

    def __init__(self, arrays: list[np.ndarray], refs: np.ndarray, actions: np.ndarray):
        self.arrays, self.refs, self.actions = arrays, refs, actions

    def __len__(self) -> int:
        return len(self.refs)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        array, slot = self.refs[i]
        image = torch.from_numpy(np.array(self.arrays[array][slot]))
        return {"images": image, "actions": torch.from_numpy(self.actions[i])}


def _lightning():
    import lightning.pytorch as pl

    return pl


class ChunkDataModule(_lightning().LightningDataModule):
    """The chunk index, split by video (or game), decoded once into a frame cache."""

    def __init__(self, cfg: TrainConfig, root: Path, seed: int):
        super().__init__()
        self.cfg, self.root, self.seed = cfg, root, seed
        self.policy_cfg = cfg.policy_config()
        self.train_set: ChunkDataset | None = None
        self.val_set: ChunkDataset | None = None
        self.split: dict[str, list[str]] = {}
        self.val_game_mean_stick_mse = math.nan  # reference: each validation chunk's game's training mean

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is not None:
            return
        cfg, root = self.cfg, self.root
        index = read_chunk_index(root / cfg.index)
        train_groups, val_groups = split_videos(index, cfg.val_fraction, cfg.split_by, self.seed)
        column = "video_id" if cfg.split_by == "video" else "game"
        actions = chunk_actions(index, root, self.policy_cfg.action_horizon)
        arrays, refs = cache_chunk_frames(index, root, root / cfg.frame_cache_dir, cfg.mask_policy, self.policy_cfg.image_size)
        is_val = index[column].astype(str).isin(val_groups).to_numpy()
        self.train_set = ChunkDataset(arrays, refs[~is_val], actions[~is_val])
        self.val_set = ChunkDataset(arrays, refs[is_val], actions[is_val])
        self.split = {"split_by": cfg.split_by, "train": train_groups, "val": val_groups,
                      "train_chunks": int((~is_val).sum()), "val_chunks": int(is_val.sum())}
        games = index["game"].astype(str).to_numpy()
        self.val_game_mean_stick_mse = game_mean_stick_mse(actions, games, is_val)  # split_videos always validates on some

    def train_mean_action(self) -> np.ndarray:
        """(21,) mean action over the training chunks: the 'predict the mean' baseline."""
        assert self.train_set is not None
        return self.train_set.actions.reshape(-1, self.train_set.actions.shape[-1]).mean(0)

    def train_dataloader(self):
        assert self.train_set is not None
        generator = torch.Generator().manual_seed(self.seed)
        return torch.utils.data.DataLoader(
            self.train_set, batch_size=self.cfg.batch_size, shuffle=True, drop_last=len(self.train_set) > self.cfg.batch_size,
            num_workers=self.cfg.num_workers, generator=generator, persistent_workers=self.cfg.num_workers > 0,
        )

    def val_dataloader(self):
        assert self.val_set is not None
        return torch.utils.data.DataLoader(self.val_set, batch_size=self.cfg.batch_size, num_workers=self.cfg.num_workers)


# --- model ------------------------------------------------------------------------------------


def button_f1(tp: float, fp: float, fn: float) -> float:
    """F1 of pressed buttons over all (chunk, timestep, button) cells; 0 when nothing is pressed or predicted."""
    return 2 * tp / (2 * tp + fp + fn) if tp else 0.0


class PolicyModule(_lightning().LightningModule):
    """FlowMatchingPolicy + AdamW/WSD; validation reports flow loss, button F1 and stick MSE of sampled chunks."""

    def __init__(self, policy_cfg: PolicyConfig, cfg: TrainConfig, mean_action: np.ndarray):
        super().__init__()
        from models.policy import FlowMatchingPolicy

        self.policy = FlowMatchingPolicy(policy_cfg)
        self.cfg = cfg
        self.register_buffer("mean_action", torch.as_tensor(mean_action, dtype=torch.float32), persistent=False)
        self.train_losses: list[float] = []  # per optimizer step, kept in checkpoints so a resumed curve is whole
        self.val_history: list[dict[str, float]] = []
        self._val_sums: dict[str, float] = {}

    def _frames(self, images: torch.Tensor, training: bool) -> torch.Tensor:
        from models.preprocess import augment, to_model_input

        frames = to_model_input(images)
        return augment(frames, self.cfg.augmentation) if training else frames

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        loss = self.policy.loss({"frames": self._frames(batch["images"], True), "actions": batch["actions"]})
        self.log("train/loss", loss, prog_bar=True, batch_size=len(batch["actions"]))
        self.train_losses.append(float(loss.detach()))
        return loss

    def on_validation_epoch_start(self) -> None:
        self._val_sums = dict.fromkeys(("loss", "n", "tp", "fp", "fn", "stick_se", "stick_n", "base_tp", "base_fp",
                                        "base_fn", "base_stick_se"), 0.0)

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        frames, labels = self._frames(batch["images"], False), batch["actions"]
        b = len(labels)
        # Fixed noise and times per batch, so validation moves only when the weights do; the
        # forked RNG leaves the training stream as it was.
        with torch.random.fork_rng(devices=[frames.device] if frames.device.type == "cuda" else []):
            torch.manual_seed(batch_idx)
            loss = self.policy.loss({"frames": frames, "actions": labels})
            # (K, B, H, 21). Buttons are scored on every sampled chunk (the presses the policy would
            # make, counted over K draws: one draw of rare presses is mostly luck); sticks on the
            # mean of the K chunks (the policy's expected stick, what MSE rewards).
            chunks = torch.stack([self.policy.sample(frames, steps=self.cfg.sample_steps) for _ in range(self.cfg.val_chunk_samples)])
        base = self.mean_action.expand_as(labels)
        truth = labels[..., BUTTON_SLICE] > 0.5
        s = self._val_sums
        s["loss"] += float(loss) * b
        s["n"] += b
        k = len(chunks)
        for prefix, pressed, weight in (("", chunks[..., BUTTON_SLICE] > 0.5, 1.0 / k), ("base_", base[..., BUTTON_SLICE] > 0.5, 1.0)):
            s[prefix + "tp"] += weight * float((pressed & truth).sum())
            s[prefix + "fp"] += weight * float((pressed & ~truth).sum())
            s[prefix + "fn"] += weight * float((~pressed & truth).sum())
        for prefix, sticks in (("", chunks[..., AXIS_SLICE].mean(0)), ("base_", base[..., AXIS_SLICE])):
            s[prefix + "stick_se"] += float(((sticks - labels[..., AXIS_SLICE]) ** 2).sum())
        s["stick_n"] += labels[..., AXIS_SLICE].numel()

    def on_validation_epoch_end(self) -> None:
        keys = sorted(self._val_sums)
        totals = torch.tensor([self._val_sums[k] for k in keys], dtype=torch.float64, device=self.device)
        s = dict(zip(keys, self.trainer.strategy.reduce(totals, reduce_op="sum").tolist()))  # over all devices
        if not s.get("n"):
            return
        metrics = {
            "val/loss": s["loss"] / s["n"],
            "val/button_f1": button_f1(s["tp"], s["fp"], s["fn"]),
            "val/stick_mse": s["stick_se"] / s["stick_n"],
            "val/baseline_button_f1": button_f1(s["base_tp"], s["base_fp"], s["base_fn"]),
            "val/baseline_stick_mse": s["base_stick_se"] / s["stick_n"],
        }
        self.log_dict(metrics)
        if not self.trainer.sanity_checking:
            self.val_history.append({"step": float(self.global_step), **metrics})

    def configure_optimizers(self):
        cfg = self.cfg
        optimizer = torch.optim.AdamW(self.policy.parameters(), lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay)

        def factor(step: int) -> float:
            return wsd_lr_factor(step, cfg.max_steps, cfg.warmup_share, cfg.decay_share, cfg.min_lr_ratio)

        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["padflow_history"] = {"train_losses": self.train_losses, "val": self.val_history}

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        history = checkpoint.get("padflow_history", {})
        self.train_losses = list(history.get("train_losses", []))
        self.val_history = list(history.get("val", []))


def _stage_logger():
    """Lightning's MLFlowLogger on the stage's open MLflow run (None outside a stage run)."""
    import mlflow
    from lightning.pytorch.loggers import MLFlowLogger

    class StageRunLogger(MLFlowLogger):
        """Leaves the run open at the end: the stage shell owns it and logs the stage's results into it."""

        def finalize(self, status: str = "success") -> None:
            pass

    run = mlflow.active_run()
    if run is None:
        return None
    return StageRunLogger(run_id=run.info.run_id, tracking_uri=mlflow.get_tracking_uri(), log_model=False)


def resolve_precision(cfg: TrainConfig) -> str:
    if cfg.precision != "auto":
        return cfg.precision
    cuda = cfg.accelerator in ("auto", "gpu", "cuda") and torch.cuda.is_available()
    return "bf16-mixed" if cuda and torch.cuda.is_bf16_supported() else "32-true"


def config_fingerprint(cfg: TrainConfig, seed: int, data: str) -> str:
    """What a checkpoint must share with this run to be resumed: the config, the seed and the data (`data_fingerprint`)."""
    record = {k: v for k, v in asdict(cfg).items() if k not in RUNTIME_ONLY}
    record["seed"] = seed
    record["policy"] = asdict(cfg.policy_config())
    record["data"] = data
    return hashlib.sha256(json.dumps(record, sort_keys=True, default=str).encode()).hexdigest()[:16]


def data_fingerprint(index_path: Path, root: Path) -> str:
    """sha256 of the chunk index and of every action table it points at (videos are named by their content).

    A new gate output (new chunks, or new labels in the same chunks) must start training afresh,
    not resume a finished run on the old data and export it again.
    """
    digest = hashlib.sha256(file_sha256(index_path).encode())
    for table in sorted(read_chunk_index(index_path)["table_path"].astype(str).unique()):
        digest.update(file_sha256(root / table).encode())
    return digest.hexdigest()[:16]


def resumable_checkpoint(checkpoint_dir: Path, fingerprint: str) -> tuple[Path | None, int]:
    """(last.ckpt, its global step) when it belongs to this config and data (`fingerprint`), else (None, 0) after removing it.

    Lightning writes checkpoints through an fsspec transaction (temp file, then rename), so a
    killed run leaves the previous last.ckpt whole; one that still fails to load is discarded.
    """
    last, record = checkpoint_dir / LAST_CHECKPOINT, checkpoint_dir / RUN_RECORD
    if not last.is_file():
        return None, 0
    recorded = json.loads(record.read_text()).get("fingerprint") if record.is_file() else None
    if recorded == fingerprint:
        try:
            return last, int(torch.load(last, map_location="cpu", weights_only=True)["global_step"])
        except (RuntimeError, OSError, KeyError, EOFError) as exc:  # torch.load's errors on a damaged file
            log.warning("train: %s is unreadable (%s); starting afresh", last, exc)
    else:
        log.warning("train: %s belongs to another config (%s, now %s); starting afresh", last, recorded, fingerprint)
    shutil.rmtree(checkpoint_dir)
    return None, 0


def loss_curve(train_losses: list[float], val: list[dict[str, float]], path: Path) -> Path:
    import matplotlib

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


def train(cfg: TrainConfig, root: Path, seed: int) -> dict[str, Any]:
    """Fit (or resume) the policy, export its EMA weights; returns metrics, curves and paths."""
    pl = _lightning()
    from lightning.pytorch.callbacks import EMAWeightAveraging, ModelCheckpoint

    pl.seed_everything(seed, workers=True)
    if cfg.torch_threads:
        torch.set_num_threads(cfg.torch_threads)
    out_dir = root / cfg.out_dir
    checkpoint_dir = out_dir / CHECKPOINT_DIR
    fingerprint = config_fingerprint(cfg, seed, data_fingerprint(root / cfg.index, root))
    resume, resumed_from = resumable_checkpoint(checkpoint_dir, fingerprint)
    write_json(checkpoint_dir / RUN_RECORD, {"fingerprint": fingerprint, "config": asdict(cfg), "seed": seed})

    data = ChunkDataModule(cfg, root, seed)
    data.setup("fit")
    write_json(out_dir / "split.json", data.split)
    policy_cfg = cfg.policy_config()
    module = PolicyModule(policy_cfg, cfg, data.train_mean_action())
    on_cpu = cfg.accelerator == "cpu" or (cfg.accelerator == "auto" and not torch.cuda.is_available())
    checkpoint = ModelCheckpoint(
        dirpath=checkpoint_dir, save_last=True, save_top_k=0, every_n_train_steps=cfg.checkpoint_every_n_steps,
    )
    logger = _stage_logger()
    trainer = pl.Trainer(
        max_steps=cfg.max_steps, max_epochs=-1, accelerator=cfg.accelerator, devices=cfg.devices,
        num_nodes=cfg.num_nodes, strategy=cfg.strategy, precision=resolve_precision(cfg),
        gradient_clip_val=cfg.grad_clip, deterministic=True if on_cpu else "warn",
        callbacks=[EMAWeightAveraging(decay=cfg.ema_decay), checkpoint], logger=logger if logger else False,
        check_val_every_n_epoch=cfg.val_every_n_epochs, log_every_n_steps=cfg.log_every_n_steps,
        enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0, default_root_dir=out_dir,
    )
    trainer.fit(module, datamodule=data, ckpt_path=resume, weights_only=True)
    # After fit the module holds the EMA weights (EMAWeightAveraging copies them in at the end);
    # the final validation therefore scores exactly what is exported.
    final = trainer.validate(module, datamodule=data, verbose=False, weights_only=True)[0]
    trainer.save_checkpoint(checkpoint_dir / LAST_CHECKPOINT, weights_only=False)
    policy_dir, curve = out_dir / POLICY_DIR, out_dir / "loss_curve.png"
    if trainer.is_global_zero:
        save_policy(module.policy, policy_dir)
        loss_curve(module.train_losses, module.val_history, curve)
    counts = parameter_counts(module.policy)
    metrics = {k.replace("/", "_"): round(float(v), 6) for k, v in final.items()}
    metrics.update({
        "global_step": int(trainer.global_step),
        "resumed_from_step": resumed_from,
        "train_chunks": data.split["train_chunks"],
        "val_chunks": data.split["val_chunks"],
        "val_game_mean_stick_mse": round(data.val_game_mean_stick_mse, 6),
        "parameters": counts["total"],
        "final_train_loss": round(float(np.mean(module.train_losses[-10:])), 6) if module.train_losses else math.nan,
    })
    return {"metrics": metrics, "curves": {"train_loss": module.train_losses}, "policy_dir": policy_dir, "curve": curve}


def stage(params: Mapping[str, Any], root: Path) -> StageResult:
    """The DVC stage: train on data/gate/chunks.parquet, export data/train/policy."""
    cfg = from_mapping(TrainConfig, params.get("train"), "train")
    seed = int(params.get("seed", 0))
    result = train(cfg, root, seed)
    out_dir = root / cfg.out_dir
    return StageResult(
        params={"train": asdict(cfg), "seed": seed},
        metrics=result["metrics"],
        artifacts={"train/policy": result["policy_dir"], "train/plots": result["curve"], "train": out_dir / "split.json"},
        curves=result["curves"],
    )
