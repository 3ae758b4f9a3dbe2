"""The policy / value network that guides the search (PyTorch, small enough for ~0.1 ms a batch).

Input per state, [B, F] with ``F = D + (G - 1) + 3`` (:func:`state_features`):

* the revealed values, standardized (``agent.index.Standardizer``), 0 on unrevealed columns [D];
* the mask bits of the non-event groups [G - 1];
* the belief: ``logit(p)`` clipped to [-10, 10], ``p``, and the expected loss of the best
  decision now divided by ``value_scale`` [3].

Output: policy logits [B, A] over the actions of ``agent.env`` (illegal ones are masked by the
caller) and the value [B]: the expected return from the state (minus future evidence costs minus
the decision loss), in units of ``value_scale``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

LOGIT_CLIP = 10.0


@dataclass(frozen=True)
class NetConfig:
    n_features: int  # D: value columns of the layout
    n_groups: int  # G: evidence groups including the free event group
    n_actions: int  # A: G - 1 reveals + 3 decisions
    hidden: int = 64  # width of the two hidden layers
    value_scale: float = 20.0  # returns (cost units, scamguard.costs) are divided by this

    @property
    def n_inputs(self) -> int:
        return self.n_features + self.n_groups - 1 + 3

    def as_dict(self) -> dict:
        return asdict(self)


def state_features(
    z: np.ndarray, bits: np.ndarray, belief: np.ndarray, stop_loss: np.ndarray, value_scale: float
) -> np.ndarray:
    """Network inputs float32 [B, F] from standardized revealed values ``z`` [B, D] (0 where
    unrevealed), mask ``bits`` [B, G], ``belief`` [B] and the best decision's expected loss [B]."""
    p = np.clip(np.asarray(belief, dtype=np.float64), 1e-12, 1 - 1e-12)
    logit = np.clip(np.log(p) - np.log1p(-p), -LOGIT_CLIP, LOGIT_CLIP)
    extra = np.stack([logit / LOGIT_CLIP, p, np.asarray(stop_loss) / value_scale], axis=1)
    return np.hstack([z, bits[:, 1:].astype(np.float64), extra]).astype(np.float32)


class PolicyValueNet(nn.Module):
    """Two hidden layers shared by a policy head [B, A] and a value head [B]."""

    def __init__(self, config: NetConfig) -> None:
        super().__init__()
        self.config = config
        self.trunk = nn.Sequential(
            nn.Linear(config.n_inputs, config.hidden),
            nn.ReLU(),
            nn.Linear(config.hidden, config.hidden),
            nn.ReLU(),
        )
        self.policy = nn.Linear(config.hidden, config.n_actions)
        self.value = nn.Linear(config.hidden, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.trunk(x)  # (B, H)
        return self.policy(h), self.value(h).squeeze(-1)  # (B, A), (B,)

    @torch.no_grad()
    def evaluate(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(policy logits [B, A], value [B] in cost units, <= 0) for inputs ``x`` [B, F]."""
        if x.shape[0] == 0:
            return np.zeros((0, self.config.n_actions)), np.zeros(0)
        logits, value = self(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)))
        return logits.double().numpy(), np.minimum(
            value.double().numpy(), 0.0
        ) * self.config.value_scale


def make_network(config: NetConfig, *, seed: int = 0) -> PolicyValueNet:
    """A freshly initialised network, identical for the same seed."""
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        net = PolicyValueNet(config)
    finally:
        torch.random.set_rng_state(generator_state)
    net.eval()
    return net
