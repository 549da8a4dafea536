"""The gate's chunk index → labelled IDM windows, split by video (training only).

Each video of the index is decoded once (models.idm.processor.decode_video: overlay masked, game
box cropped) and its action table read. Every frame of a kept chunk centres one training window,
so the IDM learns from exactly the frames the gate accepted and sees each of them at every
position of its window (one window per chunk, 16 times fewer, left the IDM at the never-press
baseline: docs/idm.md); validation reads one window per chunk, centred on it. A window's labels are the
table's actions at the window's frames (edges clamped, as the frames are), its mask the table's
observed controls (padflow.tables: a control the overlay does not draw is no label).

Only tables that cover their whole video are used (extract's: one table per video); a table that
covers a span (imported labels) is skipped and counted, since the index does not say where its
rows start. With `label_sources` the index's `label_source` column (padflow.tables.chunk_label_source: overlay
where it has none) selects which labels train the IDM: overlay labels only, never its own pseudo-labels.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from models.idm.processor import decode_video, to_windows, window_indices
from padflow.tables import chunk_label_source, chunk_observed, read_action_table, read_chunk_index, table_observed, video_rate_actions


@dataclass
class LabelledVideo:
    video_id: str
    game: str
    frames: np.ndarray  # uint8 (T, S, S, 3)
    actions: np.ndarray  # float32 (T, 21) unified
    observed: np.ndarray  # (21,) bool
    starts: list[int]  # window starts: one per frame of a kept chunk, that frame at the window's centre
    chunk_starts: list[int]  # window starts, one per kept chunk, centred on it (validation)


def load_labelled_videos(index_path: Path, root: Path, image_size: int, window: int,
                         label_sources: Sequence[str] = ("overlay",)) -> tuple[list[LabelledVideo], list[str]]:
    """Every video of the chunk index with its frames, actions and window starts; and the skipped tables with why."""
    index = read_chunk_index(index_path)
    index = index[np.isin(chunk_label_source(index), list(label_sources))]
    index = index.assign(_observed=list(chunk_observed(index)))
    videos, skipped = [], []
    for (video_id, table_path), rows in index.groupby(["video_id", "table_path"], sort=True):
        first = rows.iloc[0]
        table = read_action_table(root / table_path)
        actions = video_rate_actions(table, first.get("fps"))  # a 60 fps table steps at its 30 fps video's frames
        frames = decode_video(root / first["video_path"], list(first["game_box"]), list(first["overlay_box"]), image_size)
        if abs(len(actions) - len(frames)) > 2:
            skipped.append(f"{table_path}: {len(actions)} rows for {len(frames)} video frames (a span, not a whole video)")
            continue
        n = min(len(actions), len(frames))
        first_frames, lengths = rows["start_frame"].to_numpy(), rows["frames"].to_numpy()
        starts = sorted({f - window // 2 for a, k in zip(first_frames, lengths) for f in range(int(a), min(int(a + k), n))})
        chunk_starts = sorted({int(c) - window // 2 for c in first_frames + lengths // 2})
        videos.append(LabelledVideo(str(video_id), str(first["game"]), frames[:n], actions[:n],
                                    table_observed(table) & np.asarray(first["_observed"], bool), starts, chunk_starts))
    if not videos:
        raise ValueError(f"{index_path}: no chunk of label source(s) {list(label_sources)} with a whole-video table to train the IDM on")
    return videos, skipped


def split_by_video(videos: list[LabelledVideo], val_fraction: float, seed: int) -> tuple[list[LabelledVideo], list[LabelledVideo]]:
    """(train, val): a seeded shuffle of videos; at least one of each when there are two or more videos."""
    order = np.random.default_rng(seed).permutation(len(videos))
    n_val = min(max(1, round(val_fraction * len(videos))), len(videos) - 1) if len(videos) > 1 else 0
    val = [videos[i] for i in sorted(order[:n_val])]
    train = [videos[i] for i in sorted(order[n_val:])]
    return train, val


class WindowDataset(Dataset):
    """One item per (video, window start): frames (W, 3, S, S) in [-1, 1], actions (W, 21), observed (21,).

    `per_chunk` takes one window per kept chunk (validation) instead of one per kept frame (training)."""

    def __init__(self, videos: list[LabelledVideo], window: int, per_chunk: bool = False):
        self.videos, self.window = videos, window
        self.items = [(i, s) for i, v in enumerate(videos) for s in (v.chunk_starts if per_chunk else v.starts)]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, k: int) -> dict[str, torch.Tensor]:
        i, start = self.items[k]
        video = self.videos[i]
        idx = window_indices(start, self.window, len(video.frames))
        return {
            "frames": to_windows(video.frames, [start], self.window)[0],
            "actions": torch.from_numpy(video.actions[idx]),
            "observed": torch.from_numpy(video.observed),
        }
