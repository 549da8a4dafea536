"""The flow-matching math, pinned to hand-computed numbers (t = 0 is noise, t = 1 is data)."""

from __future__ import annotations

import pytest
import torch

from models.policy.flow_matching import euler_sample, flow_loss, interpolate, sample_time, target_velocity

ACTIONS = torch.tensor([[[1.0, -1.0], [0.5, 0.0]]])  # (B=1, H=2, D=2)
NOISE = torch.tensor([[[0.2, 0.4], [-1.0, 2.0]]])


def test_interpolate_runs_from_noise_at_t0_to_data_at_t1():
    assert torch.equal(interpolate(ACTIONS, NOISE, torch.tensor([0.0])), NOISE)
    assert torch.equal(interpolate(ACTIONS, NOISE, torch.tensor([1.0])), ACTIONS)
    quarter = interpolate(ACTIONS, NOISE, torch.tensor([0.25]))  # 0.75·noise + 0.25·actions
    assert torch.allclose(quarter, torch.tensor([[[0.4, 0.05], [-0.625, 1.5]]]))


def test_interpolate_uses_each_samples_own_time():
    a, n = torch.ones(2, 1, 1), torch.zeros(2, 1, 1)
    assert interpolate(a, n, torch.tensor([0.1, 0.9])).flatten().tolist() == pytest.approx([0.1, 0.9])


def test_target_velocity_and_loss_pinned():
    assert torch.allclose(target_velocity(ACTIONS, NOISE), torch.tensor([[[0.8, -1.4], [1.5, -2.0]]]))
    # (0.8² + 1.4² + 1.5² + 2²) / 4 = (0.64 + 1.96 + 2.25 + 4) / 4
    assert flow_loss(torch.zeros_like(ACTIONS), ACTIONS, NOISE).item() == pytest.approx(2.2125)
    assert flow_loss(target_velocity(ACTIONS, NOISE), ACTIONS, NOISE).item() == 0.0


def test_masked_loss_averages_observed_cells_and_gives_masked_dimensions_no_gradient():
    pred = torch.zeros_like(ACTIONS, requires_grad=True)
    observed = torch.tensor([[True, False]])  # (B, D): dimension 1 is unobserved in this chunk
    loss = flow_loss(pred, ACTIONS, NOISE, observed)
    assert loss.item() == pytest.approx((0.8**2 + 1.5**2) / 2)  # only the two observed cells
    loss.backward()
    assert (pred.grad[..., 1] == 0).all() and (pred.grad[..., 0] != 0).all()
    assert flow_loss(pred, ACTIONS, NOISE, torch.ones(1, 2, dtype=torch.bool)).item() == pytest.approx(2.2125)


def test_euler_sample_integrates_known_fields():
    x0 = torch.zeros(1, 1, 1)
    # dx/dt = t with 4 steps: dt·Σ t_i = 0.25·(0 + 0.25 + 0.5 + 0.75) = 0.375 (left Riemann sum)
    assert euler_sample(lambda x, t: t.view(-1, 1, 1).expand_as(x), x0, 4).item() == pytest.approx(0.375)
    # the exact field towards one data point, (a - x) / (1 - t), lands on it for any step count
    for steps in (1, 3, 16):
        out = euler_sample(lambda x, t: (ACTIONS - x) / (1 - t).view(-1, 1, 1), NOISE, steps)
        assert torch.allclose(out, ACTIONS, atol=1e-6)


def test_constant_velocity_from_noise_reaches_data():
    out = euler_sample(lambda x, t: target_velocity(ACTIONS, NOISE), NOISE, 16)
    assert torch.allclose(out, ACTIONS, atol=1e-6)


def test_sample_time_pinned_and_leans_to_the_noisy_end():
    torch.manual_seed(0)
    assert sample_time(4).tolist() == pytest.approx([0.108067, 0.132737, 0.413837, 0.812968], abs=1e-6)
    torch.manual_seed(1)
    t = sample_time(200_000, alpha=1.5, beta=1.0, cutoff=0.999)
    assert 0.0 <= t.min() and t.max() <= 0.999
    assert t.mean().item() == pytest.approx(0.999 * (1 - 1.5 / 2.5), abs=0.003)  # E[u] = a / (a + b)
    assert (t < 0.5).float().mean() > 0.6  # more mass on the noisy half


@pytest.mark.parametrize("kwargs", [{"alpha": 0.0}, {"beta": -1.0}, {"cutoff": 0.0}, {"cutoff": 1.5}])
def test_sample_time_rejects_bad_parameters(kwargs):
    with pytest.raises(ValueError):
        sample_time(3, **kwargs)


def test_shape_errors_name_the_problem():
    with pytest.raises(ValueError, match="differ in shape"):
        interpolate(ACTIONS, NOISE[..., :1], torch.tensor([0.5]))
    with pytest.raises(ValueError, match="t must have shape"):
        interpolate(ACTIONS, NOISE, torch.tensor([0.5, 0.5]))
    with pytest.raises(ValueError, match="steps"):
        euler_sample(lambda x, t: x, NOISE, 0)
