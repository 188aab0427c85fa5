"""AdamW and gradient-norm clipping for packed models: each member (dim 0 of every stacked tensor) with its own
learning rate, beta2, step count and clip, the math of torch.optim.AdamW (decoupled weight decay, amsgrad off).

Its state converts to and from torch's AdamW state_dict, member by member, so a packed run's checkpoint is an
ordinary run's checkpoint (harness/packed.py).
"""

from __future__ import annotations

from typing import Dict, List, Sequence

import torch

ADAM_EPS = 1e-8  # torch.optim.AdamW's default, which make_optimizer keeps
CLIP_EPS = 1e-6  # torch.nn.utils.clip_grad_norm_ divides max_norm by (total norm + 1e-6)


def _per_member(values: Sequence[float], like: torch.Tensor) -> torch.Tensor:
    return torch.tensor(list(values), dtype=like.dtype, device=like.device)


def _broadcast(vector: torch.Tensor, tensor: torch.Tensor) -> torch.Tensor:
    """A (M,) vector shaped to multiply a stacked tensor (M, ...) member by member."""
    return vector.view(-1, *([1] * (tensor.dim() - 1)))


class PackedAdamW:
    """AdamW over a dict of stacked leaf tensors; `decay[name]` says whether that parameter is weight-decayed."""

    def __init__(self, params: Dict[str, torch.Tensor], decay: Dict[str, bool], beta1: float,
                 beta2s: Sequence[float], weight_decay: float):
        self.params, self.decay = params, decay
        self.beta1, self.weight_decay = beta1, weight_decay
        self.beta2 = _per_member(beta2s, next(iter(params.values())))
        self.exp_avg = {n: torch.zeros_like(p) for n, p in params.items()}
        self.exp_avg_sq = {n: torch.zeros_like(p) for n, p in params.items()}
        self.steps = 0  # updates taken; every member of a pack has taken the same number

    @torch.no_grad()
    def clip_grad_norm_(self, max_norm: float) -> torch.Tensor:
        """Scale each member's gradients so their global 2-norm is at most max_norm; returns the norms (M,)."""
        grads = [p.grad for p in self.params.values()]
        members = grads[0].shape[0]
        norms = torch.stack([torch.linalg.vector_norm(g.reshape(members, -1), dim=1) for g in grads])
        total = torch.linalg.vector_norm(norms, dim=0)
        scale = torch.clamp(max_norm / (total + CLIP_EPS), max=1.0)
        for g in grads:
            g.mul_(_broadcast(scale, g))
        return total

    @torch.no_grad()
    def step(self, lrs: Sequence[float]) -> None:
        """One update of every member at its own learning rate `lrs[m]` (torch's _single_tensor_adam order)."""
        self.steps += 1
        first = next(iter(self.params.values()))
        lr = _per_member(lrs, first)
        bias_correction1 = 1 - self.beta1 ** self.steps
        bias_correction2_sqrt = (1 - self.beta2 ** self.steps).sqrt()
        for name, p in self.params.items():
            g, m, v = p.grad, self.exp_avg[name], self.exp_avg_sq[name]
            if self.decay[name] and self.weight_decay:
                p.mul_(_broadcast(1 - lr * self.weight_decay, p))
            m.lerp_(g, 1 - self.beta1)
            b2 = _broadcast(self.beta2, v)
            v.mul_(b2).add_(g * g * (1 - b2))
            denom = (v.sqrt() / _broadcast(bias_correction2_sqrt, v)).add_(ADAM_EPS)
            p.sub_(m / denom * _broadcast(lr / bias_correction1, p))

    def keep(self, members: Sequence[int], params: Dict[str, torch.Tensor]) -> None:
        """Keep only `members` (indices into dim 0), over the new stacked `params`."""
        index = torch.tensor(list(members), dtype=torch.int64, device=self.beta2.device)
        self.params = params
        self.beta2 = self.beta2[index]
        self.exp_avg = {n: t[index] for n, t in self.exp_avg.items()}
        self.exp_avg_sq = {n: t[index] for n, t in self.exp_avg_sq.items()}

    def member_state_dict(self, m: int, template: dict, order: List[str], lr: float) -> dict:
        """Member m's state as torch.optim.AdamW.state_dict() of the member's own optimizer: `template` is that
        optimizer's state_dict (its param_groups), `order` the parameter names in its index order."""
        step = torch.tensor(float(self.steps), dtype=torch.float32, device=self.beta2.device)
        state = {i: {"step": step.clone(), "exp_avg": self.exp_avg[n][m].clone(),
                     "exp_avg_sq": self.exp_avg_sq[n][m].clone()} for i, n in enumerate(order)}
        groups = [{**g, "lr": lr} for g in template["param_groups"]]
        return {"state": state, "param_groups": groups}

    @torch.no_grad()
    def load_member(self, m: int, saved: dict, order: List[str]) -> None:
        """Set member m's moments from a torch AdamW state_dict (an ordinary run's checkpoint, or a pack's)."""
        for i, name in enumerate(order):
            self.exp_avg[name][m].copy_(saved["state"][i]["exp_avg"])
            self.exp_avg_sq[name][m].copy_(saved["state"][i]["exp_avg_sq"])
        self.steps = int(saved["state"][0]["step"])
