"""The checkpoint conventions both networks' training shares: resume only what belongs to this run."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from models.training import LAST_CHECKPOINT, RUN_RECORD, fingerprint, resumable_checkpoint, start_or_resume


def test_fingerprint_ignores_key_order_and_sees_values():
    assert fingerprint({"a": 1, "b": [1, 2]}) == fingerprint({"b": [1, 2], "a": 1})
    assert fingerprint({"a": 1}) != fingerprint({"a": 2})


def test_a_checkpoint_resumes_only_under_its_own_fingerprint(tmp_path: Path):
    folder = tmp_path / "checkpoints"
    assert start_or_resume(folder, "f1", {"seed": 0}) == (None, 0)
    assert json.loads((folder / RUN_RECORD).read_text()) == {"fingerprint": "f1", "seed": 0}
    torch.save({"global_step": 12}, folder / LAST_CHECKPOINT)
    assert resumable_checkpoint(folder, "f1") == (folder / LAST_CHECKPOINT, 12)
    assert resumable_checkpoint(folder, "f2") == (None, 0) and not folder.exists()  # another config: removed
    folder.mkdir()
    torch.save({"global_step": 12}, folder / LAST_CHECKPOINT)
    whole = (folder / LAST_CHECKPOINT).read_bytes()
    (folder / LAST_CHECKPOINT).write_bytes(whole[: len(whole) // 2])  # torn
    (folder / RUN_RECORD).write_text(json.dumps({"fingerprint": "f1"}))
    assert resumable_checkpoint(folder, "f1") == (None, 0) and not folder.exists()  # unreadable: removed
