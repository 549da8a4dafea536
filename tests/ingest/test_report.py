"""The ingest report as later stages read it."""

from pathlib import Path

import pytest

from padflow.ingest.report import accepted_videos, read_report


def test_later_stages_read_the_report_back_with_only_accepted_videos(ingested):
    report, out, _ = ingested
    accepted = accepted_videos(read_report(out))
    assert list(accepted) == [row.video_id for row in report.accepted]


@pytest.mark.parametrize(("content", "reason"), [(None, "ingest report not found"), ("{oops", "ingest report unreadable"),
                                                  ('{"config": {}}', "not an ingest report")])
def test_a_missing_or_malformed_report_names_the_file(tmp_path: Path, content: str | None, reason: str):
    if content is not None:
        (tmp_path / "ingest_report.json").write_text(content)
    with pytest.raises(ValueError, match=rf"ingest_report\.json: {reason}"):
        read_report(tmp_path)
