"""A chunk index from the corpus' ground truth, for training without the overlay parser.

    python bench/truth_chunk_index.py [--raw data/raw] [--truth data/corpus_truth] [--out data/bench/truth_chunks.parquet]
        [--stride 16] [--videos-per-game N]

The corpus stage keeps each video's true actions and overlay/game boxes beside it
(data/corpus_truth/<name>.parquet + .json). This writes them as a gate-style chunk index (one row
per 16-frame chunk, with the `game` column filled from the truth), so train, evaluate and transfer
can run on labels as good as a perfect extractor's. Videos drawn without an overlay are left out
(training masks the overlay box). A chunk starts every `--stride` frames (16: chunks do not overlap);
`--videos-per-game N` keeps each game's first N videos by name, for a learning curve over the amount of
demonstrations on one corpus. Prints the chunks per game.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

HORIZON = 16


def truth_index(raw: Path, truth: Path, root: Path, stride: int = HORIZON, videos_per_game: int | None = None) -> pd.DataFrame:
    rows = []
    videos_of: dict[str, int] = {}
    for record_path in sorted(truth.glob("*.json")):
        record = json.loads(record_path.read_text())
        video = raw / f"{record_path.stem}.mp4"
        table = record_path.with_suffix(".parquet")
        if record.get("overlay_box") is None or not video.is_file() or not table.is_file():
            continue
        if videos_per_game is not None and videos_of.get(record["game"], 0) >= videos_per_game:
            continue
        videos_of[record["game"]] = videos_of.get(record["game"], 0) + 1
        n = pq.read_metadata(table).num_rows
        for start in range(0, n - HORIZON + 1, stride):
            rows.append({"video_id": record_path.stem, "video_path": str(video.relative_to(root)),
                         "table_path": str(table.relative_to(root)), "start_frame": start, "frames": HORIZON,
                         "overlay_box": [int(v) for v in record["overlay_box"]],
                         "game_box": [int(v) for v in record["game_box"]], "game": record["game"]})
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, default=Path("."))
    parser.add_argument("--raw", default="data/raw")
    parser.add_argument("--truth", default="data/corpus_truth")
    parser.add_argument("--out", default="data/bench/truth_chunks.parquet")
    parser.add_argument("--stride", type=int, default=HORIZON, help="frames between chunk starts")
    parser.add_argument("--videos-per-game", type=int, default=None, help="keep each game's first N videos (by name)")
    args = parser.parse_args()
    if args.stride < 1 or (args.videos_per_game is not None and args.videos_per_game < 1):
        parser.error("--stride and --videos-per-game must be at least 1")
    root = args.root.resolve()
    index = truth_index(root / args.raw, root / args.truth, root, args.stride, args.videos_per_game)
    out = root / args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    index.to_parquet(out, index=False)
    print(json.dumps({"out": str(out), "chunks_per_game": index.groupby("game").size().to_dict(),
                      "videos_per_game": index.groupby("game")["video_id"].nunique().to_dict()}, indent=2))


if __name__ == "__main__":
    main()
