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


def test_training_progress_counts_optimizer_steps_and_says_when_training_ends(capsys, monkeypatch):
    import lightning.pytorch as pl
    import torch

    from models.training import TrainingProgress

    class Tiny(pl.LightningModule):
        def __init__(self):
            super().__init__()
            self.layer = torch.nn.Linear(2, 1)

        def training_step(self, batch, batch_idx):
            return self.layer(batch[0]).pow(2).mean()

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.1)

    monkeypatch.setenv("PADFLOW_PROGRESS", "lines")
    data = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.randn(8, 2)), batch_size=2)
    trainer = pl.Trainer(max_epochs=2, callbacks=[TrainingProgress("train")], logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, accelerator="cpu")
    trainer.fit(Tiny(), train_dataloaders=data)
    assert "[train] 8/8 steps done in" in capsys.readouterr().err, "2 epochs x 4 batches, counted against max_epochs"
