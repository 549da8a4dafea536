"""Cutting a validated action table into training chunks: the rule the gate and pseudo_label share.

A chunk is `chunk_size` timesteps starting every `chunk_stride` frames of the normalized video.
It is kept when at least `min_action_density` of its timesteps act (an observed button held or an
observed stick axis off-centre: the policy should not learn to do nothing) and some pixel of the
game area changes by `static_threshold` grey levels (menus, loading screens are idle). Each kept
chunk is one row of the chunk index (padflow.tables CHUNK_INDEX_SCHEMA), carrying who labelled it
(`label_source`: overlay for extract's and imported tables, idm for pseudo_label's).

The rule's settings (`ChunkRule`) are keys of params.yaml `gate`: one rule for every chunk index.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Annotated, Any, NamedTuple

import numpy as np
from pydantic import Field

from padflow.actions import AXIS_SLICE, BUTTON_SLICE
from padflow.config import config, from_mapping
from padflow.fanout import TaskRunnerConfig, fan_out
from padflow.tables import NO_OVERLAY_BOX, rows_at_rate, table_times, table_to_actions
from padflow.video import iter_frames, probe

Box = tuple[int, int, int, int]
Share = Annotated[float, Field(ge=0.0, le=1.0)]


@config
class ChunkRule:
    """How a validated table is cut into training chunks: params.yaml `gate` (GateConfig extends it; pseudo_label reads
    the same keys there, `chunk_rule`)."""

    chunk_size: Annotated[int, Field(ge=1, description="timesteps per chunk: the policy's action horizon")] = 16
    chunk_stride: Annotated[int, Field(ge=1, description=(
        "frames between consecutive chunk starts, at most chunk_size (a larger stride skips frames); "
        "below chunk_size, chunks overlap (NitroGen trains on every window)"))] = 16
    min_action_density: Annotated[Share, Field(description=(
        "keep a chunk when at least this share of its timesteps act, a button held or a stick off-centre "
        "(NitroGen: 0.5), so the policy does not learn to do nothing"))] = 0.5
    stick_deadzone: Annotated[float, Field(ge=0.0, description="|axis| at or below this counts as a centred stick")] = 0.05
    static_threshold: Annotated[float, Field(ge=0.0, description=(
        "grey levels; a chunk where no pixel of the game area changes more than this is idle (menus, loading screens)"))] = 24.0
    motion_size: Annotated[tuple[int, int], Field(description="(w, h) pixels frames are scaled to when measuring motion")] = (160, 90)
    game_area_threshold: Annotated[int, Field(ge=0, le=255, description=(
        "grey level above which a pixel belongs to the game picture (letterbox bars stay darker)"))] = 16

    def __post_init__(self) -> None:
        if self.chunk_stride > self.chunk_size:
            raise ValueError(f"chunk_stride must be in [1, chunk_size={self.chunk_size}] (a larger stride skips frames), got {self.chunk_stride}")


def chunk_rule(gate: Mapping[str, Any] | None) -> ChunkRule:
    """The chunking rule of a params.yaml `gate` section (its other keys are the gate's own)."""
    names = {f.name for f in fields(ChunkRule)}
    return from_mapping(ChunkRule, {k: v for k, v in (gate or {}).items() if k in names}, "gate")


@dataclass(frozen=True)
class TableInput:
    """One action table to chunk: a whole extracted or pseudo-labelled video, or a span of one (imported)."""

    video_id: str
    table_path: Path
    video_path: Path
    fps: float  # the table's own rate, frames/s (an extracted table: its source's, up to 60)
    frames_ingested: int  # frames of the video the table was read from (its rows when it covers all of it)
    inliers: int | None  # None: the table's source never localized an overlay (weak_localization not checked)
    overlay_box: Box | None  # None: the video has no overlay (nothing to mask)
    game: str = "unknown"
    table_id: str = ""  # the table's file stem and report key; "" = video_id (one table per video)
    frame_offset: int = 0  # the table's row 0 is this frame of the normalized video
    expected_frames: int | None = None  # rows the table should have; None = the whole video
    notes: tuple[str, ...] = ()  # what the gate did not check for this table, and why
    video_fps: float | None = None  # video_path's rate, the chunks' step rate, frames/s; None = fps
    label_source: str = "overlay"  # padflow.tables LABEL_SOURCES: who labelled the table

    @property
    def step_fps(self) -> float:
        """The rate chunks step at: video_path's, which training decodes (padflow.tables.rows_at_rate)."""
        return self.fps if self.video_fps is None else self.video_fps

    @property
    def key(self) -> str:
        return self.table_id or self.video_id

    @property
    def rows_expected(self) -> int:
        return self.frames_ingested if self.expected_frames is None else self.expected_frames


class Chunk(NamedTuple):
    start: int  # first frame, counted from the table's row 0
    density: float  # share of acting timesteps
    motion: float  # largest grey-level change in the game area
    verdict: str  # kept | density | static


def action_density(actions: np.ndarray, deadzone: float, observed: np.ndarray | None = None) -> np.ndarray:
    """(T, 21) → (T,) bool: a timestep acts when an observed button is held or an observed stick axis is off-centre.

    `observed` is the table's (21,) mask (None: every control); an unobserved value is no label, so never an action.
    """
    if observed is not None:
        actions = np.where(observed, actions, 0.0)
    return (actions[:, BUTTON_SLICE] > 0.5).any(axis=1) | (np.abs(actions[:, AXIS_SLICE]) > deadzone).any(axis=1)


def cut_chunks(actions: np.ndarray, motion: np.ndarray, cfg: ChunkRule, observed: np.ndarray | None = None) -> list[Chunk]:
    """Chunks every `chunk_stride` frames, each with its density, motion and verdict (kept | density | static)."""
    acting = action_density(actions, cfg.stick_deadzone, observed)
    out = []
    for start in range(0, len(actions) - cfg.chunk_size + 1, cfg.chunk_stride):
        density = float(acting[start : start + cfg.chunk_size].mean())
        change = float(motion[start : start + cfg.chunk_size].max()) if len(motion) else 0.0
        if density < cfg.min_action_density:
            verdict = "density"
        elif change < cfg.static_threshold:
            verdict = "static"
        else:
            verdict = "kept"
        out.append(Chunk(start, density, change, verdict))
    return out


def covered_frames(starts: list[int], chunk_size: int) -> int:
    """Frames inside at least one chunk of `chunk_size` frames starting at `starts` (sorted)."""
    covered, end = 0, 0
    for start in starts:
        covered += start + chunk_size - max(start, end)
        end = start + chunk_size
    return covered


def video_motion(path: Path, overlay_box: Box | None, cfg: ChunkRule) -> tuple[np.ndarray, Box]:
    """Per-frame largest grey-level change in the game area (overlay masked), and the game picture's box.

    Frame 0 gets the change of frame 1. The game box is the bounding box of pixels brighter than
    `game_area_threshold` anywhere in the video (letterbox bars stay dark).
    """
    w, h = cfg.motion_size
    changes: list[float] = []
    brightest = None
    previous = None
    info = probe(path)
    fw, fh = info.width, info.height
    mask = np.ones((h, w), bool)
    if overlay_box is not None:
        x0, y0, x1, y1 = overlay_box
        mask[int(y0 * h / fh) : int(np.ceil(y1 * h / fh)), int(x0 * w / fw) : int(np.ceil(x1 * w / fw))] = False
    for frame in iter_frames(path, fmt="gray", size=(w, h)):
        grey = frame.astype(np.float32)
        brightest = grey if brightest is None else np.maximum(brightest, grey)
        if previous is not None:
            # The largest change, not the mean: a ball or a cursor is a few pixels of a frame,
            # while compression noise on a still picture stays well under the threshold.
            changes.append(float(np.abs(grey - previous)[mask].max()) if mask.any() else 0.0)
        previous = grey
    motion = np.array(changes[:1] + changes, dtype=np.float32) if changes else np.zeros(1 if previous is not None else 0, np.float32)
    game_box = (0, 0, fw, fh)
    if brightest is not None:
        lit = brightest > cfg.game_area_threshold
        lit[~mask] = False
        ys, xs = np.nonzero(lit)
        if len(xs):
            game_box = (int(xs.min() * fw / w), int(ys.min() * fh / h), int(np.ceil((xs.max() + 1) * fw / w)),
                        int(np.ceil((ys.max() + 1) * fh / h)))
    return motion, tuple(min(v, lim) for v, lim in zip(game_box, (fw, fh, fw, fh)))


class MotionCache:
    """video_motion once per (video, overlay box): imported labels come as many tables per video."""

    def __init__(self, cfg: ChunkRule):
        self.cfg = cfg
        self._seen: dict[tuple[Path, Box | None], tuple[np.ndarray, Box]] = {}

    def measure(self, keys: Sequence[tuple[Path, Box | None]], workers: int) -> None:
        """Measure these (video, overlay box) ahead, `workers` videos at a time on threads (decoding releases the GIL).

        A video that cannot be measured is left out: asking for it later raises as it would have.
        """
        todo = [k for k in dict.fromkeys(keys) if k not in self._seen]
        measured = fan_out(self._measure, todo, name="gate motion", runner=TaskRunnerConfig(kind="thread"), workers=workers,
                           labels=[str(video) for video, _ in todo], on_error=lambda key, exc: None, unit="videos")
        self._seen.update((key, m) for key, m in zip(todo, measured) if m is not None)

    def _measure(self, key: tuple[Path, Box | None]) -> tuple[np.ndarray, Box]:
        return video_motion(key[0], key[1], self.cfg)

    def __call__(self, video: Path, overlay_box: Box | None) -> tuple[np.ndarray, Box]:
        key = (video, overlay_box)
        if key not in self._seen:
            self._seen[key] = video_motion(video, overlay_box, self.cfg)
        return self._seen[key]


def chunk_table(item: TableInput, table: Any, observed: np.ndarray, cfg: ChunkRule, motions: MotionCache,
                root: Path, indexed_table: Path | None = None) -> tuple[list[dict[str, Any]], list[Chunk]]:
    """A validated table's chunk-index rows (its kept chunks) and every chunk.

    Paths in the rows are relative to `root`; `indexed_table` is where the index says the table is
    (default item.table_path; a stage that writes its tables beside the index names their final place).

    The table is read at its own rate and chunked at the video's: one action per video frame, the
    row nearest its time (a 60 fps table gives every other row to a 30 fps video).
    """
    actions = table_to_actions(table)[rows_at_rate(table_times(table), item.step_fps)]
    motion, game_box = motions(item.video_path, item.overlay_box)
    motion = motion[item.frame_offset : item.frame_offset + len(actions)]
    actions = actions[: len(motion)]
    chunks = cut_chunks(actions, motion, cfg, observed)
    rows = [{
        "video_id": item.video_id,
        "video_path": _relative(item.video_path, root),
        "table_path": _relative(indexed_table or item.table_path, root),
        "start_frame": item.frame_offset + c.start,
        "frames": cfg.chunk_size,
        "fps": item.step_fps,
        "overlay_box": list(NO_OVERLAY_BOX if item.overlay_box is None else item.overlay_box),
        "game_box": list(game_box),
        "game": item.game,
        "density": c.density,
        "motion": c.motion,
        "label_source": item.label_source,
        "observed": observed.tolist(),
    } for c in chunks if c.verdict == "kept"]
    return rows, chunks


def _relative(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(path)
