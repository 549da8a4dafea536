"""IngestConfig validation."""

import pytest

from padflow.ingest import IngestConfig


def test_config_rejects_bad_values_naming_the_field():
    for field, value in [("fps", 0.0), ("max_width", 1281), ("crf", 60), ("preset", "warp"), ("encoder_threads", 0),
                         ("scale_filter", "magic"), ("min_duration_s", -1.0), ("extensions", (".MP4",))]:
        with pytest.raises(ValueError, match=field):
            IngestConfig(**{field: value})
