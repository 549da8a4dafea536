from pathlib import Path

import pytest

from padflow.config import load_params, profile_names
from padflow.params_schema import check_params, params_problems

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("profile", profile_names(ROOT))
def test_every_profile_passes(profile):
    assert params_problems(load_params(ROOT, profile=profile)) == []


def test_bad_values_and_unknown_keys_are_named():
    params = load_params(ROOT, profile="default")
    params["train"] = {**params["train"], "lr": "fast", "models": {**params["train"]["models"], "tiny": {"depth": "two"}}}
    params["ingest"] = {**params["ingest"], "fpss": 30}
    with pytest.raises(ValueError) as error:
        check_params(params, "params.yaml")
    message = str(error.value)
    assert message.startswith("params.yaml: ") and "train.lr: must be of type number, got 'fast'" in message
    assert "ingest: Additional properties are not allowed ('fpss' was unexpected)" in message
    assert "train.models.tiny" in message
