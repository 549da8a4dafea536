"""LocalizeConfig (params.yaml `extract.localize`) and the version of the localization's results."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from padflow.config import config

Detector = Literal["sift", "orb"]
TransformModel = Literal["similarity", "affine"]
LOCALIZE_VERSION = 11  # 11: a skin the ingest manifest declares is named at any lead (verify); bump when a change here can change a Localization for the same inputs
MIN_OVERLAY_WIDTH_PX = 16  # a fit narrower than this in the frame is no overlay a parser could read


@config
class LocalizeConfig:
    frames: Annotated[int, Field(ge=1, description="frames sampled evenly across each video (NitroGen: 25)")] = 25
    detector: Annotated[
        Detector, Field(description="local features: sift (robust) or orb (faster, weaker on faint overlays)")
    ] = "sift"
    transform: Annotated[
        TransformModel,
        Field(description="template→frame model: similarity (4 dof: overlays are upright and keep their aspect) or affine (6 dof)"),
    ] = "similarity"
    min_inliers: Annotated[
        int, Field(ge=3, description="inlier matches, pooled over the sampled frames, that must agree on one transform (NitroGen: 20); an affine fit needs 3")
    ] = 20
    min_locations: Annotated[
        int,
        Field(ge=3, description="distinct template locations among the inliers, at most min_inliers (a static look-alike matched in every frame counts once)"),
    ] = 6
    ratio: Annotated[
        float, Field(gt=0.0, le=1.0, description="Lowe's ratio test: best match distance / next distinct location of the same skin")
    ] = 0.8
    neighbours: Annotated[
        int, Field(ge=2, description="nearest library descriptors looked up per frame descriptor (covers look-alike skins; the ratio test needs a second)")
    ] = 16
    max_rotation_deg: Annotated[
        float, Field(ge=0.0, le=180.0, description="overlays are upright: fits rotated more than this are rejected, degrees")
    ] = 10.0
    angle_tolerance_deg: Annotated[
        float, Field(ge=0.0, le=180.0, description="slack on a single match's orientation difference (feature noise), degrees")
    ] = 20.0
    size_tolerance: Annotated[float, Field(ge=1.0, description="slack factor on a single match's size ratio against width_range")] = 2.0
    width_range: Annotated[
        tuple[float, float], Field(description="plausible overlay width, fraction of frame width (0 < min < max <= 1)")
    ] = (0.04, 0.6)
    ransac_threshold: Annotated[float, Field(gt=0.0, description="RANSAC reprojection error, px of the detection image")] = 3.0
    ransac_iterations: Annotated[int, Field(ge=1, description="RANSAC hypotheses per skin")] = 4000
    max_side: Annotated[int, Field(ge=64, description="frames with a longer side than this are downscaled before detection, px")] = 960
    max_features: Annotated[
        int, Field(description="keypoints kept per sampled frame, strongest first (at least min_inliers)")
    ] = 3000
    contrast_threshold: Annotated[
        float, Field(gt=0.0, lt=1.0, description="SIFT contrast threshold; below OpenCV's 0.04 so faint overlays keep features")
    ] = 0.02
    template_scales: Annotated[
        tuple[Annotated[float, Field(ge=0.05, le=2.0)], ...],
        Field(min_length=1, description="template sizes features are taken at, fractions of the native size"),
    ] = (1.0, 0.5, 0.25)
    template_backgrounds: Annotated[
        tuple[Annotated[int, Field(ge=0, le=255)], ...],
        Field(min_length=1, description="grey levels (0..255) the template's transparent parts are shown over"),
    ] = (128, 16)
    location_cell_px: Annotated[float, Field(gt=0.0, description="inliers closer than this count as one location, template px")] = 4.0
    early_stop_locations: Annotated[
        int,
        Field(ge=0, description="stop reading sampled frames once a plausible fit has this many locations (0: always read every sampled frame; else >= min_locations)"),
    ] = 20
    refine: Annotated[bool, Field(description="re-match an upscaled crop of small overlays for a sharper box")] = True
    refine_width_px: Annotated[
        int, Field(ge=MIN_OVERLAY_WIDTH_PX, description="the refinement upscales the overlay towards this width, px")
    ] = 192
    max_refine_upscale: Annotated[float, Field(ge=1.0, description="largest upscale of the refinement crop")] = 4.0
    refine_margin: Annotated[
        float, Field(ge=0.0, le=1.0, description="refinement crop margin around the coarse box, fraction of its size")
    ] = 0.15
    rescue_poses: Annotated[
        int,
        Field(ge=0, description="when no fit passes: the poses single matches vote for most are each checked by guided matching, up to this many (0: never)"),
    ] = 8
    rescue_min_locations: Annotated[
        int, Field(description="distinct template locations guided matching must find where a voted pose puts them to accept it (>= min_locations)")
    ] = 10
    guided_radius_px: Annotated[
        float, Field(gt=0.0, description="guided matching keeps a match landing this close to where the pose puts it, template px")
    ] = 6.0
    colour_location_margin: Annotated[
        int,
        Field(ge=0, description="skins of other families whose fits place the overlay where the best fit does, with at most this many locations fewer, are look-alikes told apart by their rest colours, as the best skin's own family always is"),
    ] = 4
    min_skin_agreement: Annotated[
        float,
        Field(le=1.0, description="the found skin, composited over the game it covers, must explain what the sampled frames show at least this well to be named (localize.verify: 1 - the mean over its control regions and body of the error against the nearest of its looks, relative to the region's own contrast; 1 = exact), and must also pass min_skin_margin or skin_agreement_alone; otherwise the video is unknown_skin and is not read with a look-alike's layout. Chosen on bench/unknown_skin.py's tune set with the default corpus's library videos (LOCALIZE_VERSION 8: library skins 0.67-0.96; the best skin outside the library that led its look-alikes by min_skin_margin explained its overlay to 0.35; kept at version 9, where library skins score 0.65-0.97)"),
    ] = 0.5
    min_skin_margin: Annotated[
        float,
        Field(ge=0.0, description="... and lead every other library skin whose fit puts the overlay at the same place by this much agreement (a true skin stands clear of its family's other colourings; an unknown skin's look-alikes score close together). With skin_agreement_alone, the least strict values that name no skin outside the library on bench/unknown_skin.py's tune set, drawn again at LOCALIZE_VERSION 11 (one such skin led its look-alikes by 0.238, another explained its overlay to 0.785); tune library overlays leading by 0.226-0.246 lie on both sides: a faint overlay may need its skin declared (ingest manifest `skin`; docs/benchmarks.md)"),
    ] = 0.24
    skin_agreement_alone: Annotated[
        float,
        Field(le=1.0, description="... or explain the overlay at least this well while leading every other skin (two library colourings of one family can both explain a small faint overlay well). Chosen with min_skin_margin (docs/benchmarks.md)"),
    ] = 0.79
    seed: Annotated[int, Field(description="RANSAC random seed (OpenCV's RNG), so a localization is reproducible")] = 0

    def __post_init__(self) -> None:
        checks = [
            ("min_locations", self.min_locations <= self.min_inliers, "must be in [3, min_inliers]"),
            ("width_range", 0.0 < self.width_range[0] < self.width_range[1] <= 1.0, "must satisfy 0 < min < max <= 1"),
            ("max_features", self.max_features >= self.min_inliers, "must be >= min_inliers"),
            ("early_stop_locations", self.early_stop_locations == 0 or self.early_stop_locations >= self.min_locations, "must be 0 or >= min_locations"),
            ("rescue_min_locations", self.rescue_min_locations >= self.min_locations, "must be >= min_locations"),
        ]  # fmt: skip
        for name, ok, rule in checks:
            if not ok:
                raise ValueError(f"{name}: {rule}, got {getattr(self, name)!r}")

    def feature_key(self) -> tuple:
        """The settings that decide template features (what the template index cache is keyed on)."""
        return (self.detector, self.max_features, self.contrast_threshold, self.template_scales, self.template_backgrounds, self.min_inliers)
