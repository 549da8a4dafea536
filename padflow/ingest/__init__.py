"""Ingest: turn a folder or manifest of videos into normalized 30 fps H.264 videos, native-rate renditions, and a report.

Every input file is probed with PyAV, hashed (sha256 of its bytes), deduplicated by that hash,
fully decoded (a file that does not decode to the end is rejected, never half-used), resampled
to a constant frame rate by its timestamps, scaled to fit the configured bounds and re-encoded.
A video that is already H.264 yuv420p at exactly the target rate and within bounds is stream-
copied instead (it is still decoded to the end to validate it).

Two rates (docs/overlay.md, "Frame rates"): the normalized video runs at `fps` (30), the rate the
gate, training and every reader of video frames step at. Labels are read at the source's own
rate: a source whose rate, capped at `native_max_fps` (60), differs from `fps` also gets a
native-rate rendition (same size, same normalization, at its own constant rate: a 60 fps source
keeps all its frames), which extraction reads; for a source at `fps` the normalized video is that
rendition. The report row says which (`output_native`, `fps_native`, `frames_native`).

Modules: `manifest` (what to ingest), `forensics` (why a file is no usable video), `normalize`
(one input → one output or a rejection; the FFmpeg work is padflow.video.transcode), `cache`
(incremental reuse), `report` (the report schema and its readers, what later stages import),
`pipeline` (`ingest`, the whole run), `config` (IngestConfig). The DVC stage is tasks/ingest.py.

Input, one of:
    a folder      every file below it whose suffix is in `IngestConfig.extensions` (hidden files
                  and folders, and the output folder if it lies inside, are skipped); a
                  `manifest.json` in the folder (format below) gives source, licence, url,
                  game and skin for the files it lists; otherwise they are "unknown".
    a manifest    `*.txt` (or any other suffix): one path per line, blank lines and lines
                  starting with '#' ignored.
                  `*.json` / `*.yaml` / `*.yml`: a list whose items are a path string or a
                  mapping {path, source, licence (or license), url, game, skin}; or a mapping
                  {defaults: {source, licence, url, ...}, videos: [...]} where the defaults fill the
                  fields an item leaves out. Missing metadata is "unknown" (url, skin: null).
                  `skin` is the library skin the video's overlay is, when you know it (a streamer
                  uses one overlay for a channel): extract then names it at any lead over its
                  look-alikes (padflow.overlay.localize.verify), where a faint overlay would be unknown_skin.
                  Relative paths are relative to the manifest's folder, which is the input root.

A path (or symlink) that resolves outside the input root is rejected as `escapes_root`; so is
each entry of a folder's manifest.json that points outside the folder (`../x.mp4`, an absolute
path), and an entry naming no file is `unreadable`: every entry gets a report row.

Duplicates (same sha256): one copy is kept, the one the manifest describes if any (else the one
ingested before, else the first listed); fields it leaves unknown are taken from the other copies'
entries, and each dropped copy's row names the kept one and why. Frames smaller than
min_width x min_height are rejected as `too_small` before decoding.

Output (OUT):
    videos/<video_id>.mp4    normalized video, video_id = the first 16 hex digits of the input's
                             sha256 (stable across runs, renames and machines); no audio
    videos/<video_id>.native.mp4   the native-rate rendition, for a source at another rate than `fps`
    videos/<video_id>.json   the video's record: original path, sha256, source, licence, url, ...
    ingest_report.json       one row per input file (IngestRow), the config and run totals
    ingest_metrics.json      flat summary numbers (a DVC metrics file)

Incremental: a re-run decodes only inputs whose sha256 it has not recorded under the same
normalization settings (same config and PyAV/FFmpeg versions); a recorded output is reused when
its bytes (both renditions') still match the recorded hashes. Outputs of videos that left the
input are deleted, but only files this stage recorded in its previous report and whose bytes are
unchanged. Input files are only ever opened for reading.

Replaced only on success: a run works in a folder beside OUT that starts as a hard-linked copy of
OUT (so reuse costs no copying) and takes OUT's place in one atomic swap when the run succeeded
(padflow.io.replaced_dir); a run that fails or is interrupted leaves OUT as it was.

Encoding is reproducible: the same input and settings give byte-identical output on the same
PyAV/FFmpeg build, because x264 is run with a fixed thread count (x264 output depends on the
thread count, not on timing) and the resampling decisions use exact rational timestamps.

Fetching videos from URLs is not part of ingest (nothing is downloaded at run time). On a
machine with internet, fetch with yt-dlp (video only: ingest drops audio), then ingest the folder
through a manifest that carries each video's page URL, uploader and licence from yt-dlp's info
JSON (`webpage_url`, `uploader`, `license`):

    yt-dlp -f "bv*[height<=720]" --remux-video mp4 --write-info-json -o "videos/%(id)s.%(ext)s" URL...
    python - <<'PY'
    import json, pathlib, yaml
    infos = [json.loads(p.read_text()) for p in sorted(pathlib.Path("videos").glob("*.info.json"))]
    items = [{"path": f"{i['id']}.mp4", "url": i["webpage_url"], "source": i.get("uploader") or "unknown",
              "licence": i.get("license") or "unknown"} for i in infos]
    pathlib.Path("videos/manifest.yaml").write_text(yaml.safe_dump(items, sort_keys=False))
    PY
    padflow ingest videos/manifest.yaml --out data/ingest
"""

from padflow.ingest.config import IngestConfig
from padflow.ingest.pipeline import ingest
from padflow.ingest.report import (
    METRICS_FILE,
    REPORT_FILE,
    IngestReport,
    IngestRow,
    accepted_videos,
    read_report,
)

__all__ = ["METRICS_FILE", "REPORT_FILE", "IngestConfig", "IngestReport", "IngestRow", "accepted_videos", "ingest", "read_report"]
