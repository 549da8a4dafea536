"""The localization's steps in order: match every sampled frame, fit, and when needed rescue, pick by colour, refine, check the skin."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from padflow.overlay.library import SkinLibrary
from padflow.overlay.localize.colour import pick_by_colour
from padflow.overlay.localize.config import LocalizeConfig
from padflow.overlay.localize.index import detect, make_detector, template_index
from padflow.overlay.localize.match import Matches, Votes, decide, detection_grey, fit_skins, match_frame
from padflow.overlay.localize.refine import refine
from padflow.overlay.localize.rescue import rescue
from padflow.overlay.localize.result import Localization
from padflow.overlay.localize.sample import sample_frames, spread_order
from padflow.overlay.localize.verify import check_skin

EARLY_STOP_CHECK = 4  # with early stopping, the fit is checked after every this many sampled frames


def localize_overlay(video_path: str | Path, library: SkinLibrary, cfg: LocalizeConfig = LocalizeConfig(),
                     declared: str | None = None) -> Localization:
    """Sample `cfg.frames` frames of the video and localize the overlay in them (`declared`: localize_frames)."""
    started = time.perf_counter()
    frames, _, _ = sample_frames(video_path, cfg.frames)
    return replace(localize_frames(frames, library, cfg, declared), seconds=round(time.perf_counter() - started, 3))


def localize_frames(frames: list[np.ndarray], library: SkinLibrary, cfg: LocalizeConfig = LocalizeConfig(),
                    declared: str | None = None) -> Localization:
    """Localize one static overlay across RGB frames of one video (all the same size).

    `declared`: the library skin the user says the overlay is (the ingest manifest's `skin`); it changes only how the
    skin check names the found skin (verify.check_skin). ValueError where the library has no such skin."""
    started = time.perf_counter()
    if not frames:
        raise ValueError("localize_frames needs at least one frame")
    if declared is not None and declared not in library.skins:
        raise ValueError(f"declared skin {declared!r} is not in the skin library ({len(library.skins)} skins; `padflow skins list`)")
    h, w = frames[0].shape[:2]
    if any(f.shape[:2] != (h, w) for f in frames):
        raise ValueError("localize_frames: every frame must have the same size")
    index = template_index(library, cfg)
    scale = min(1.0, cfg.max_side / max(w, h))
    detector = make_detector(cfg)
    matches: list[Matches] = []
    votes: list[Votes] = []
    used: list[np.ndarray] = []
    result = None
    early = False
    # Frames are read in spread-out order, so stopping early still sees the whole video.
    for n, i in enumerate(spread_order(len(frames)), start=1):
        matches.append(match_frame(detect(detection_grey(frames[i], scale), detector), index, cfg, scale * w, votes=votes if cfg.rescue_poses else None))
        used.append(frames[i])
        if cfg.early_stop_locations and n % EARLY_STOP_CHECK == 0 and n < len(frames):
            fits = fit_skins(matches, cfg, range(len(index.skins)), floor=cfg.early_stop_locations)
            if fits and fits[0].locations >= cfg.early_stop_locations:
                result = decide(index, fits, cfg, scale, (w, h), n)
                if result.found:
                    early = True
                    break
                result = None
    # The early-stop check only fitted skins with many locations; the colour check below also
    # weighs look-alikes with fewer.
    fits = fit_skins(matches, cfg, range(len(index.skins)))
    if not early:
        result = decide(index, fits, cfg, scale, (w, h), len(used))
    if not result.found and cfg.rescue_poses:
        result, fits = rescue(used, index, votes, result, cfg, scale)
    if result.found:
        result = pick_by_colour(used, index, fits, result, cfg, scale)
    if result.found and cfg.refine:
        result = refine(used, index, result, cfg)
    if result.found:
        result = check_skin(used, index, fits, result, cfg, scale, duel_frames=frames, declared=declared)
    return replace(result, seconds=round(time.perf_counter() - started, 3))
