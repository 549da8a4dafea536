"""The policy's training data: the gate's chunk index → action chunks + a cache of preprocessed frames.

Input: the accepted-chunk index (padflow.tables CHUNK_INDEX_SCHEMA, read_chunk_index): per chunk a normalized video,
its action table, the first frame, the chunk length and the game / overlay boxes. The policy
sees the chunk's first frame (overlay masked, game box cropped, resized: processor.py) and
learns the chunk's actions.

Each video is decoded once; the frames that start a chunk are preprocessed to the model's input
size and kept as one uint8 array per video in the frame cache (reused by later runs while the
video, boxes, mask and size are unchanged). Train and validation never share a video (or a
game, `split_by: game`); by video, validation holds new videos of games that training also sees
(see split_videos).

Each chunk also carries its observed mask (the index's `observed`, padflow.tables): controls the
overlay's skin does not draw have no label, so the loss, the validation figures and the baselines
leave those dimensions out.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any, Literal, Protocol, get_args

import lightning.pytorch as pl
import numpy as np
import torch

from models.policy.configuration import PolicyConfig
from models.policy.processor import crop_mask_resize
from padflow.actions import AXIS_SLICE
from padflow.io import atomic_path
from padflow.tables import chunk_actions, chunk_observed, index_box, read_chunk_index
from padflow.video import read_frames_at

SplitBy = Literal["video", "game"]  # the unit that never straddles train and validation
SPLITS = get_args(SplitBy)


class ChunkDataSettings(Protocol):
    """What ChunkDataModule reads of the train stage's config (tasks/train.py TrainConfig)."""

    index: str  # the chunk index, relative to the project root
    val_fraction: float
    split_by: str  # video | game
    frame_cache_dir: str
    mask_policy: str
    batch_size: int
    num_workers: int

    def policy_config(self) -> PolicyConfig: ...


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


def observed_mean(actions: np.ndarray, observed: np.ndarray) -> np.ndarray:
    """(D,) per-dimension mean of (N, H, D) chunks over the chunks that observe it (N, D); 0 (neutral) where none does."""
    weight = np.broadcast_to(observed[:, None, :], actions.shape).astype(np.float64)
    total = weight.reshape(-1, actions.shape[-1]).sum(0)
    sums = (actions * weight).reshape(-1, actions.shape[-1]).sum(0)
    return np.where(total > 0, sums / np.maximum(total, 1.0), 0.0).astype(np.float32)


def game_mean_stick_mse(actions: np.ndarray, games: np.ndarray, is_val: np.ndarray, observed: np.ndarray | None = None) -> float:
    """Validation stick MSE of predicting each chunk's game's training mean (the global one for games training lacks).

    A reference next to the mean baseline: it knows the game but not the moment, so a policy
    beats it only by reading the game state from the frame. actions (N, H, 21), games (N,), is_val (N,);
    `observed` (N, 21) leaves unobserved axes out of the means and the error (None: all observed).
    """
    observed = np.ones((len(actions), actions.shape[-1]), bool) if observed is None else observed
    sticks, seen = actions[..., AXIS_SLICE], observed[:, AXIS_SLICE]
    overall = observed_mean(sticks[~is_val], seen[~is_val])
    guess = np.empty_like(sticks[is_val])
    for game in np.unique(games[is_val]):
        trained = ~is_val & (games == game)
        guess[games[is_val] == game] = observed_mean(sticks[trained], seen[trained]) if trained.any() else overall
    cells = np.broadcast_to(seen[is_val][:, None, :], guess.shape)
    return float(((guess - sticks[is_val]) ** 2)[cells].mean()) if cells.any() else float("nan")


def _cache_key(video: Path, frames: list[int], game_box: tuple, overlay_box: tuple, mask_policy: str, size: int) -> str:
    stat = video.stat()
    text = json.dumps([str(video.resolve()), stat.st_size, stat.st_mtime_ns, frames, game_box, overlay_box, mask_policy, size])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def decode_frames(video: Path, wanted: list[int]) -> dict[int, np.ndarray]:
    """The given frame numbers of a video as uint8 RGB (padflow.video's numbering); ValueError names the video."""
    return read_frames_at(video, wanted, fmt="rgb24")


def cache_chunk_frames(index: Any, root: Path, cache_dir: Path, mask_policy: str, image_size: int) -> tuple[list[np.ndarray], np.ndarray]:
    """Preprocessed chunk-start frames: one uint8 (n, S, S, 3) array per (video, boxes), and each row's (array, slot)."""
    arrays: list[np.ndarray] = []
    refs = np.zeros((len(index), 2), np.int64)
    keys = [(r.video_path, index_box(r.game_box), index_box(r.overlay_box)) for r in index.itertuples()]
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
    """(chunk-start frame uint8 (S, S, 3), action chunk (H, 21), observed mask (21,) bool) triples."""

    def __init__(self, arrays: list[np.ndarray], refs: np.ndarray, actions: np.ndarray, observed: np.ndarray | None = None):
        self.arrays, self.refs, self.actions = arrays, refs, actions
        self.observed = np.ones((len(actions), actions.shape[-1]), bool) if observed is None else observed

    def __len__(self) -> int:
        return len(self.refs)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        array, slot = self.refs[i]
        image = torch.from_numpy(np.array(self.arrays[array][slot]))
        return {"images": image, "actions": torch.from_numpy(self.actions[i]), "observed": torch.from_numpy(self.observed[i])}


class ChunkDataModule(pl.LightningDataModule):
    """The chunk index, split by video (or game), decoded once into a frame cache."""

    def __init__(self, cfg: ChunkDataSettings, root: Path, seed: int):
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
        observed = chunk_observed(index)
        arrays, refs = cache_chunk_frames(index, root, root / cfg.frame_cache_dir, cfg.mask_policy, self.policy_cfg.image_size)
        is_val = index[column].astype(str).isin(val_groups).to_numpy()
        self.train_set = ChunkDataset(arrays, refs[~is_val], actions[~is_val], observed[~is_val])
        self.val_set = ChunkDataset(arrays, refs[is_val], actions[is_val], observed[is_val])
        self.split = {"split_by": cfg.split_by, "train": train_groups, "val": val_groups,
                      "train_chunks": int((~is_val).sum()), "val_chunks": int(is_val.sum())}
        games = index["game"].astype(str).to_numpy()
        self.val_game_mean_stick_mse = game_mean_stick_mse(actions, games, is_val, observed)  # split_videos always validates on some

    def train_mean_action(self) -> np.ndarray:
        """(21,) mean action over the training chunks that observe each control: the 'predict the mean' baseline."""
        assert self.train_set is not None
        return observed_mean(self.train_set.actions, self.train_set.observed)

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
