"""metadata.json is validated by pydantic models: lenient forms are read, wrong fields are named with the file."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from padflow.nitrogen import ChunkError, parse_metadata, read_chunk

VALID = {
    "uuid": "gamma_chunk_0000_actions",
    "chunk_id": "0000",
    "chunk_size": 30,
    "game": "Test Game",
    "controller_type": "xbox",
    "bbox_game_area": None,
    "bbox_controller_overlay": [60, 40, 96, 64],
    "original_video": {"video_id": "gamma", "url": None, "resolution": [96, 64], "start_time": 0.0, "end_time": 1.0,
                       "duration": 3.0, "start_frame": 0, "end_frame": 30},
}  # fmt: skip


def edited(path: tuple[str, ...], value) -> dict:
    """VALID with the key at `path` set to `value` (or removed when value is `...`)."""
    data = copy.deepcopy(VALID)
    *parents, key = path
    target = data
    for name in parents:
        target = target[name]
    if value is ...:
        del target[key]
    else:
        target[key] = value
    return data


def test_boxes_are_read_as_pixel_lists_or_xywh_in_pixels_or_normalized(tmp_path: Path, samples):
    path, _ = samples.released_chunk(tmp_path, "gamma", 0, 0.0, 1.0, samples.FPS, seed=0)
    meta = json.loads((path / "metadata.json").read_text())
    for box in ({"x": 60, "y": 40, "w": 36, "h": 24}, {"x": 0.625, "y": 0.625, "w": 0.375, "h": 0.375}):
        meta["bbox_controller_overlay"] = box
        (path / "metadata.json").write_text(json.dumps(meta))
        assert read_chunk(path).metadata.bbox_controller_overlay == tuple(float(v) for v in samples.OVERLAY)


@pytest.mark.parametrize(
    ("path", "value", "read"),
    [
        (("chunk_id",), 7, 7),
        (("chunk_id",), "0007", 7),
        (("original_video", "resolution"), "96x64", (96, 64)),
        (("original_video", "resolution"), {"width": 96, "height": 64}, (96, 64)),
        (("bbox_controller_overlay",), {"x": 60, "y": 40, "width": 36, "height": 24}, (60.0, 40.0, 96.0, 64.0)),
        (("bbox_controller_overlay",), [50, 30, 120, 90], (50.0, 30.0, 96.0, 64.0)),  # clipped to the frame
        (("bbox_game_area",), [0, 0, 60, 64], (0.0, 0.0, 60.0, 64.0)),
        (("original_video", "duration"), None, None),
        (("original_video", "start_time"), 0, 0.0),
    ],
)
def test_lenient_forms_are_read(path, value, read):
    meta = parse_metadata(edited(path, value), "metadata.json")
    target = meta
    for name in path:
        target = getattr(target, name)
    assert target == read


def test_unknown_keys_are_kept_and_written_back():
    data = edited(("original_video", "fps"), 30.0)
    data["source"] = "release"
    meta = parse_metadata(data, "metadata.json")
    written = meta.to_dict()
    assert written["source"] == "release" and written["original_video"]["fps"] == 30.0
    assert list(written)[:8] == list(VALID) and written["chunk_id"] == "0000"


@pytest.mark.parametrize(
    ("path", "value", "named"),
    [
        (("uuid",), ..., "uuid: Field required"),
        (("bbox_game_area",), ..., "bbox_game_area: Field required"),
        (("original_video", "url"), ..., "original_video.url: Field required"),
        (("uuid",), "", "uuid: "),
        (("game",), 3, "game: "),
        (("chunk_id",), -1, "chunk_id: "),
        (("chunk_size",), True, "chunk_size: "),
        (("chunk_size",), 2.0, "chunk_size: "),
        (("original_video",), "gamma", "original_video: "),
        (("original_video", "video_id"), "../gamma", "original_video.video_id: "),
        (("original_video", "url"), 5, "original_video.url"),
        (("original_video", "resolution"), [96], "original_video.resolution"),
        (("original_video", "resolution"), [96, 0], "original_video.resolution"),
        (("original_video", "start_time"), -1.0, "original_video.start_time: "),
        (("original_video", "end_time"), 0.0, "original_video: needs 0 <= start_time < end_time"),
        (("original_video", "end_time"), float("nan"), "original_video.end_time: "),
        (("original_video", "end_frame"), -1, "original_video.end_frame: "),
        (("original_video", "start_frame"), 40, "original_video: needs 0 <= start_frame <= end_frame"),
        (("original_video", "duration"), "long", "original_video.duration"),
        (("bbox_controller_overlay",), None, "bbox_controller_overlay"),
        (("bbox_controller_overlay",), [1, 2, 3], "bbox_controller_overlay: must be [x0, y0, x1, y1] or {x, y, w, h}"),
        (("bbox_controller_overlay",), [1, 2, 3, True], "bbox_controller_overlay: must be"),
        (("bbox_controller_overlay",), {"x": 1, "y": 2, "w": 3}, "bbox_controller_overlay: as an object needs numeric x, y, w, h"),
        (("bbox_controller_overlay",), [100, 70, 120, 90], "bbox_controller_overlay: [100.0, 70.0, 120.0, 90.0] is empty or outside the 96x64 frame"),
        (("bbox_game_area",), [10, 10, 10, 20], "bbox_game_area: [10.0, 10.0, 10.0, 20.0] is empty"),
    ],
)
def test_wrong_fields_are_named_with_the_file(path, value, named):
    with pytest.raises(ChunkError) as err:
        parse_metadata(edited(path, value), "SHARD_0000/gamma/gamma_chunk_0000/metadata.json")
    assert err.value.reason == "malformed_metadata"
    assert str(err.value).startswith("SHARD_0000/gamma/gamma_chunk_0000/metadata.json: ")
    assert named in str(err.value)


def test_metadata_must_be_an_object():
    with pytest.raises(ChunkError, match=r"^metadata\.json: .*valid dictionary"):
        parse_metadata([VALID], "metadata.json")
