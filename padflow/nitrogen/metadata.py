"""A chunk's metadata.json: pydantic models that validate it and write it back.

Conventions padflow assumes (the released files could not be inspected offline, so reading is
lenient where writing is exact):

- Boxes. padflow writes `[x0, y0, x1, y1]` in pixels of `original_video.resolution`. It reads
  that, or a mapping `{x, y, w, h}` (also `width` / `height`), in pixels, or normalized to the
  frame when every value is <= 1; a box reaching past the frame is clipped to it. A null
  `bbox_game_area` is accepted; a chunk without `bbox_controller_overlay` is not (training must
  mask the overlay).
- `resolution` is `[width, height]` (also read: "WxH", or {width, height}).
- `chunk_id` is written as the zero-padded string of the folder name; an integer is read too.
  `chunk_size` is written as the chunk's number of rows; it is kept on import, never trusted:
  lengths come from the parquet rows and the chunk's times.
- Keys the models do not name are kept as found (`model_extra`) and written back after the
  named ones.

A metadata.json that does not validate raises ChunkError("malformed_metadata") naming the file
and every field that is missing or wrong.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

METADATA_FILE = "metadata.json"
ID_DIGITS = 4  # SHARD_0000, <video_id>_chunk_0000
SAFE_VIDEO_ID = re.compile(r"[A-Za-z0-9_-]+")  # video ids become file names

ChunkReason = Literal["missing_file", "unreadable", "missing_column", "bad_values", "malformed_metadata"]
Box = tuple[float, float, float, float]  # (x0, y0, x1, y1), pixels


class ChunkError(ValueError):
    """A chunk folder that cannot be read; `reason` is its short code, the message names the file."""

    def __init__(self, reason: ChunkReason, message: str) -> None:
        super().__init__(message)
        self.reason = reason


# JSON values as the metadata holds them: numbers are finite and never booleans, counts are whole.
Number = Annotated[float, Strict(), Field(allow_inf_nan=False)]
Count = Annotated[int, Strict(), Field(ge=0)]
Text = Annotated[str, Strict(), Field(min_length=1)]


def _from_digits(value: Any) -> Any:
    """chunk_id is written as the folder's zero-padded digits ("0007")."""
    return int(value) if isinstance(value, str) and value.isdigit() else value


def _size_pair(value: Any) -> Any:
    """"WxH" and {width, height} → [width, height]; anything else is left for the type to judge."""
    if isinstance(value, str) and re.fullmatch(r"\d+x\d+", value):
        return [int(v) for v in value.split("x")]
    if isinstance(value, Mapping) and {"width", "height"} <= set(value):
        return [value["width"], value["height"]]
    return value


Pixels = Annotated[int, Strict(), Field(gt=0)]
Resolution = Annotated[tuple[Pixels, Pixels], BeforeValidator(_size_pair)]


class _XYWH(BaseModel):
    """A box given as a mapping: {x, y, w, h} or {x, y, width, height}."""

    x: Number
    y: Number
    w: Number = Field(validation_alias=AliasChoices("w", "width"))
    h: Number = Field(validation_alias=AliasChoices("h", "height"))


_CORNERS = TypeAdapter(tuple[Number, Number, Number, Number])


def pixel_box(value: Any, resolution: tuple[int, int]) -> Box:
    """A box as [x0, y0, x1, y1] pixels, or {x, y, w, h} in pixels or normalized (all <= 1) → pixels, clipped to the frame."""
    width, height = resolution
    if isinstance(value, Mapping):
        try:
            b = _XYWH.model_validate(value)
        except ValidationError:
            raise PydanticCustomError("box", "as an object needs numeric x, y, w, h; got {value}", {"value": repr(dict(value))}) from None
        x, y, w, h = b.x, b.y, b.w, b.h
        if max(x, y, w, h) <= 1.0:
            x, y, w, h = x * width, y * height, w * width, h * height
        box = (x, y, x + w, y + h)
    else:
        try:
            box = _CORNERS.validate_python(value)
        except ValidationError:
            raise PydanticCustomError("box", "must be [x0, y0, x1, y1] or {x, y, w, h}, got {value}", {"value": repr(value)}) from None
    # A box reaching past the frame edge is clipped to it; one with nothing inside is malformed.
    x0, y0, x1, y1 = max(box[0], 0.0), max(box[1], 0.0), min(box[2], float(width)), min(box[3], float(height))
    if not (x0 < x1 and y0 < y1):
        raise PydanticCustomError("box", "{box} is empty or outside the {size} frame", {"box": str(list(box)), "size": f"{width}x{height}"})
    return x0, y0, x1, y1


def _box_json(box: Box) -> list[float | int]:
    """Whole pixels as integers, the rest as floats."""
    return [int(v) if float(v).is_integer() else float(v) for v in box]


class OriginalVideo(BaseModel):
    """The video a chunk labels, and the span of it the chunk covers. Other keys are kept as found."""

    model_config = ConfigDict(frozen=True, extra="allow")

    video_id: Annotated[str, Strict(), Field(pattern=rf"^{SAFE_VIDEO_ID.pattern}$")]  # letters, digits, _ and -
    url: Annotated[str, Strict()] | None
    resolution: Resolution  # (width, height), pixels: the space of the chunk's boxes
    start_time: Annotated[Number, Field(ge=0)]  # seconds into the video where the chunk starts
    end_time: Number  # seconds into the video where the chunk ends (exclusive)
    duration: Number | None  # the whole video, seconds
    start_frame: Count
    end_frame: Count  # exclusive

    @model_validator(mode="after")
    def _spans_forward(self) -> OriginalVideo:
        if not self.start_time < self.end_time:
            raise PydanticCustomError("span", "needs 0 <= start_time < end_time, got {start} and {end}",
                                      {"start": self.start_time, "end": self.end_time})  # fmt: skip
        if not self.start_frame <= self.end_frame:
            raise PydanticCustomError("span", "needs 0 <= start_frame <= end_frame, got {first} and {last}",
                                      {"first": self.start_frame, "last": self.end_frame})  # fmt: skip
        return self

    def to_dict(self) -> dict[str, Any]:
        return {
            "video_id": self.video_id, "url": self.url, "resolution": list(self.resolution),
            "start_time": self.start_time, "end_time": self.end_time, "duration": self.duration,
            "start_frame": self.start_frame, "end_frame": self.end_frame, **(self.model_extra or {}),
        }  # fmt: skip


class ChunkMetadata(BaseModel):
    """A chunk's metadata.json. Other keys are kept as found."""

    model_config = ConfigDict(frozen=True, extra="allow")

    original_video: OriginalVideo  # validated first: the boxes below are read in its resolution
    uuid: Text
    chunk_id: Annotated[Count, BeforeValidator(_from_digits)]
    chunk_size: Count
    game: Text
    controller_type: Text
    bbox_game_area: Box | None  # pixels of original_video.resolution; None when the source gives none
    bbox_controller_overlay: Box

    @field_validator("bbox_game_area", "bbox_controller_overlay", mode="before")
    @classmethod
    def _in_pixels(cls, value: Any, info: ValidationInfo) -> Any:
        video = info.data.get("original_video")  # absent when it failed: that error is reported
        if value is None or video is None:
            return value
        return pixel_box(value, video.resolution)

    def to_dict(self) -> dict[str, Any]:
        return {
            "uuid": self.uuid,
            "chunk_id": f"{self.chunk_id:0{ID_DIGITS}d}",
            "chunk_size": self.chunk_size,
            "game": self.game,
            "controller_type": self.controller_type,
            "bbox_game_area": None if self.bbox_game_area is None else _box_json(self.bbox_game_area),
            "bbox_controller_overlay": _box_json(self.bbox_controller_overlay),
            "original_video": self.original_video.to_dict(),
            **(self.model_extra or {}),
        }


def _problem(error: Mapping[str, Any]) -> str:
    """One pydantic error as `field.sub: what is wrong, got VALUE`."""
    field = ".".join(str(part) for part in error["loc"])
    what = error["msg"]
    if error["type"] not in ("missing", "box", "span") and not isinstance(error["input"], Mapping):
        what = f"{what}, got {error['input']!r}"
    return f"{field}: {what}" if field else what


def parse_metadata(data: Any, where: str) -> ChunkMetadata:
    """Validate a decoded metadata.json; ChunkError names `where` and each field that is missing or wrong."""
    try:
        return ChunkMetadata.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(_problem(e) for e in exc.errors())
        raise ChunkError("malformed_metadata", f"{where}: {problems}") from None


def read_metadata(path: Path) -> ChunkMetadata:
    """A chunk's metadata.json, validated; ChunkError names the field that is missing or wrong."""
    if not path.is_file():
        raise ChunkError("missing_file", f"{path}: file not found")
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ChunkError("malformed_metadata", f"{path}: not valid JSON ({exc})") from None
    return parse_metadata(data, str(path))
