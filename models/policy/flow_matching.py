"""Conditional flow matching on action chunks: the whole objective and sampler as small functions.

Time convention (one place, said once): t = 0 is pure Gaussian noise and t = 1 is the data, so
the path is a_t = (1 - t)·ε + t·a and the velocity that carries noise to data is a - ε. Some
papers (π0, several diffusion write-ups) use the opposite direction, t = 1 for noise.

Shapes: actions, noise and velocities are (B, H, D) (batch, horizon, action dim); t is (B,).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

VelocityFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (x_t (B,H,D), t (B,)) → velocity (B,H,D)


def sample_time(
    batch: int,
    alpha: float = 1.5,
    beta: float = 1.0,
    cutoff: float = 0.999,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """(batch,) training times t = cutoff·(1 - u), u ~ Beta(alpha, beta).

    With alpha > beta, u leans towards 1, so t leans towards 0: the noisy end, where predicting
    the velocity is hardest, gets the most training signal. `cutoff` < 1 keeps t = 1 (no noise
    left, nothing to learn) out of the draw. Uses torch's global RNG (seeded by seed_everything).
    """
    if alpha <= 0 or beta <= 0:
        raise ValueError(f"Beta parameters must be > 0, got alpha={alpha}, beta={beta}")
    if not 0.0 < cutoff <= 1.0:
        raise ValueError(f"cutoff must be in (0, 1], got {cutoff}")
    u = torch.distributions.Beta(torch.tensor(float(alpha)), torch.tensor(float(beta))).sample((batch,))
    return (cutoff * (1.0 - u)).to(device=device, dtype=torch.float32)


def _broadcast_time(t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    if t.ndim != 1 or t.shape[0] != like.shape[0]:
        raise ValueError(f"t must have shape ({like.shape[0]},), got {tuple(t.shape)}")
    return t.to(like.dtype).view(-1, *([1] * (like.ndim - 1)))


def interpolate(actions: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """The point on the straight noise→data path at time t: (1 - t)·noise + t·actions."""
    if actions.shape != noise.shape:
        raise ValueError(f"actions {tuple(actions.shape)} and noise {tuple(noise.shape)} differ in shape")
    tt = _broadcast_time(t, actions)
    return (1.0 - tt) * noise + tt * actions


def target_velocity(actions: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """d a_t / dt along the path: constant, actions - noise."""
    return actions - noise


def flow_loss(
    pred_velocity: torch.Tensor, actions: torch.Tensor, noise: torch.Tensor, observed: torch.Tensor | None = None
) -> torch.Tensor:
    """Mean squared error between the predicted and the target velocity (a scalar).

    `observed` (bool, (B, D) per chunk or (B, H, D)) masks dimensions that carry no label (controls
    the overlay's skin does not draw): the mean runs over observed cells only, so a masked
    dimension gets no gradient whatever its (neutral-filled) value. This is the action mask of
    NVIDIA Isaac-GR00T's flow-matching head (gr00t/model/action_head/flow_matching_action_head.py:
    per-element MSE × action_mask, summed, divided by the mask's sum).
    """
    error = F.mse_loss(pred_velocity, target_velocity(actions, noise), reduction="none")
    if observed is None:
        return error.mean()
    mask = observed.to(device=error.device, dtype=error.dtype)
    if mask.ndim == error.ndim - 1:
        mask = mask.unsqueeze(1)  # one mask per chunk, for every timestep
    mask = mask.expand_as(error)
    return (error * mask).sum() / mask.sum().clamp(min=1.0)


def euler_sample(velocity_fn: VelocityFn, noise: torch.Tensor, steps: int) -> torch.Tensor:
    """Integrate dx/dt = v(x, t) from t = 0 (noise) to t = 1 with `steps` equal Euler steps."""
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    x = noise
    dt = 1.0 / steps
    for i in range(steps):
        t = torch.full((x.shape[0],), i * dt, device=x.device, dtype=x.dtype)
        x = x + dt * velocity_fn(x, t)
    return x
