"""The policy at the gamepad: anything that samples an action chunk from a frame, played chunk by chunk.

The player knows nothing of networks: it takes a `ChunkSampler` (the evaluate stage builds one
from a trained policy and its processor) and plays the first `replan_every` actions of each
sampled chunk before it looks again. Stepping is frame-synchronous, so a slow sampler never
loses frames.
"""

from __future__ import annotations

import time
from typing import Any, Protocol

import numpy as np

POLICY = "policy"  # the player name of the headline policy


class ChunkSampler(Protocol):
    def reset(self, seed: int) -> None:
        """Seed the sampling noise for a new episode (the same seed samples the same chunks)."""
        ...

    def sample_chunk(self, frame: np.ndarray) -> np.ndarray:
        """float32 (T, 21) actions for the T frames that start at `frame` (uint8 H x W x 3)."""
        ...


class PolicyPlayer:
    """Samples a chunk from the current frame, plays its first `replan_every` actions, then samples again."""

    def __init__(self, sampler: ChunkSampler, replan_every: int, name: str = POLICY):
        if replan_every < 1:
            raise ValueError(f"replan_every: must be >= 1, got {replan_every}")
        self.name = name
        self.sampler = sampler
        self.replan_every = replan_every
        self.chunk: np.ndarray | None = None
        self.position = 0
        self.calls = 0  # chunks sampled, over every episode
        self.seconds = 0.0  # wall time spent sampling them

    def reset(self, seed: int) -> None:
        self.sampler.reset(seed)
        self.chunk, self.position = None, 0

    def act(self, frame: np.ndarray, info: dict[str, Any]) -> np.ndarray:
        if self.chunk is None or self.position >= self.replan_every:
            started = time.perf_counter()
            chunk = np.asarray(self.sampler.sample_chunk(frame))
            if chunk.ndim != 2 or len(chunk) < self.replan_every:
                raise ValueError(f"{self.name}: sampled a chunk of shape {chunk.shape}; "
                                 f"replanning every {self.replan_every} steps needs (>= {self.replan_every}, 21)")
            self.chunk, self.position = chunk, 0
            self.seconds += time.perf_counter() - started
            self.calls += 1
        action = self.chunk[self.position]
        self.position += 1
        return action
