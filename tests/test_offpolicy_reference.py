"""SAC's and TD3's gradient updates, step for step, against plain textbook implementations
written here (nn.Sequential critics and actors, autograd, torch.optim.Adam): every parameter,
target and logged value after each update. spinrl's updates are hand-optimised (batched
critics, Adam over one flat buffer with the fused kernel, SAC's temperature gradient by hand,
in-place activations and smoothing); these tests fail if any of that changed the math, and
one test shows that they do fail when the reference's math is wrong."""

import copy
import dataclasses
import itertools
import math

import gymnasium as gym
import numpy as np
import pytest
import torch
from torch import nn
from torch.distributions import Normal

from spinrl.algos import sac, td3

OBS_DIM, ACT_DIM, BATCH = 5, 2, 32
LOW = np.array([-1.0, 0.0], np.float32)  # non-symmetric bounds: center [0.5, 0.25],
HIGH = np.array([2.0, 0.5], np.float32)  # scale [1.5, 0.25]; smoothing hits the bounds
OBS_SPACE = gym.spaces.Box(-np.inf, np.inf, (OBS_DIM,), np.float32)
ACT_SPACE = gym.spaces.Box(LOW, HIGH, dtype=np.float32)
CONFIGS = {
    "sac": sac.Config(hid=(16, 16), gamma=0.95, polyak=0.9, lr=3e-3, alpha_init=0.5),
    "td3": td3.Config(
        hid=(16, 16),
        gamma=0.95,
        polyak=0.9,
        pi_lr=2e-3,
        q_lr=3e-3,
        target_noise=0.3,
        noise_clip=0.4,
        policy_delay=2,
    ),
}
RTOL, ATOL = 1e-5, 1e-6


# --- The reference: ordinary modules, autograd and torch.optim.Adam --------------------------


def copy_mlp(net: nn.Sequential) -> nn.Sequential:
    """A fresh Linear-ReLU-...-Linear network holding a copy of ``net``'s Linear weights."""
    layers: list[nn.Module] = []
    for old in (m for m in net if isinstance(m, nn.Linear)):
        new = nn.Linear(old.in_features, old.out_features)
        with torch.no_grad():
            new.weight.copy_(old.weight)
            new.bias.copy_(old.bias)
        layers += [new, nn.ReLU()]
    return nn.Sequential(*layers[:-1])


def copy_critic(ensemble, k: int) -> nn.Sequential:
    """Member k of a QEnsemble (weights [n, in, out], biases [n, 1, out]) as nn.Linear layers."""
    layers: list[nn.Module] = []
    for w, b in zip(ensemble.weights, ensemble.biases, strict=True):
        linear = nn.Linear(w.shape[1], w.shape[2])
        with torch.no_grad():
            linear.weight.copy_(w[k].T)
            linear.bias.copy_(b[k, 0])
        layers += [linear, nn.ReLU()]
    return nn.Sequential(*layers[:-1])


def polyak(target: nn.Module, source: nn.Module, rho: float) -> None:
    with torch.no_grad():
        for pt, p in zip(target.parameters(), source.parameters(), strict=True):
            pt.mul_(rho).add_((1 - rho) * p)


class Reference:
    """What SAC and TD3 share: twin critics and their targets, the bounds, the batch's Q."""

    def __init__(self, agent, cfg, ignore_terminated: bool = False) -> None:
        self.cfg, self.ignore_terminated = cfg, ignore_terminated
        self.low, self.high = torch.tensor(LOW), torch.tensor(HIGH)
        self.center = torch.tensor((HIGH + LOW) / 2)
        self.scale = torch.tensor((HIGH - LOW) / 2)
        self.qs = [copy_critic(agent.q, k) for k in range(2)]
        self.q_targs = [copy.deepcopy(q).requires_grad_(False) for q in self.qs]

    @staticmethod
    def q_of(critic: nn.Sequential, obs, act) -> torch.Tensor:
        return critic(torch.cat([obs, act], -1)).squeeze(-1)

    def not_done(self, b) -> torch.Tensor:
        return torch.ones_like(b["terminated"]) if self.ignore_terminated else 1 - b["terminated"]

    def critic_step(self, b, y) -> tuple[torch.Tensor, torch.Tensor]:
        q1, q2 = (self.q_of(q, b["obs"], b["actions"]) for q in self.qs)
        loss_q = ((q1 - y) ** 2).mean() + ((q2 - y) ** 2).mean()
        self.q_opt.zero_grad()
        loss_q.backward()
        self.q_opt.step()
        return q1, loss_q

    def set_critics_grad(self, on: bool) -> None:
        for q in self.qs:
            q.requires_grad_(on)


class ReferenceSAC(Reference):
    def __init__(self, agent, cfg, ignore_terminated: bool = False) -> None:
        super().__init__(agent, cfg, ignore_terminated)
        self.pi = copy_mlp(agent.actor.net)
        self.pi_opt = torch.optim.Adam(self.pi.parameters(), lr=cfg.lr)
        self.q_opt = torch.optim.Adam(
            itertools.chain(*(q.parameters() for q in self.qs)), lr=cfg.lr
        )
        self.log_alpha = torch.tensor(math.log(cfg.alpha_init), requires_grad=True)
        self.alpha_opt = torch.optim.Adam([self.log_alpha], lr=cfg.lr)
        self.target_entropy = -ACT_DIM

    def sample(self, obs) -> tuple[torch.Tensor, torch.Tensor]:
        """a = center + scale tanh(u), u = mu + std * eps, and log pi(a|s) by the change of
        variables: log N(u; mu, std) - sum log(scale (1 - tanh(u)^2)), the last term written
        as log scale + 2 (log 2 - u - softplus(-2u)), finite where tanh(u) rounds to 1."""
        mu, log_std = self.pi(obs).chunk(2, -1)
        std = log_std.clamp(-20, 2).exp()
        u = mu + std * torch.randn(mu.shape)
        log_det = torch.log(self.scale) + 2 * (math.log(2) - u - nn.functional.softplus(-2 * u))
        logp = Normal(mu, std).log_prob(u).sum(-1) - log_det.sum(-1)
        return self.center + self.scale * torch.tanh(u), logp

    def update(self, b) -> dict:
        cfg = self.cfg
        alpha = self.log_alpha.detach().exp()  # before this step's temperature update
        with torch.no_grad():
            a2, logp2 = self.sample(b["next_obs"])
            q_next = torch.min(*(self.q_of(q, b["next_obs"], a2) for q in self.q_targs))
            y = b["rewards"] + cfg.gamma * self.not_done(b) * (q_next - alpha * logp2)
        q1, loss_q = self.critic_step(b, y)

        self.set_critics_grad(False)
        a, logp = self.sample(b["obs"])
        q_pi = torch.min(*(self.q_of(q, b["obs"], a) for q in self.qs))
        loss_pi = (alpha * logp - q_pi).mean()
        self.pi_opt.zero_grad()
        loss_pi.backward()
        self.pi_opt.step()
        self.set_critics_grad(True)

        loss_alpha = -(self.log_alpha * (logp.detach() + self.target_entropy)).mean()
        self.alpha_opt.zero_grad()
        loss_alpha.backward()
        self.alpha_opt.step()

        for q, q_targ in zip(self.qs, self.q_targs, strict=True):
            polyak(q_targ, q, cfg.polyak)
        return {
            "Q1Vals": q1.mean().item(),
            "LogPi": logp.mean().item(),
            "LossPi": loss_pi.item(),
            "LossQ": loss_q.item(),
            "Alpha": alpha.item(),
        }


class ReferenceTD3(Reference):
    def __init__(self, agent, cfg, ignore_terminated: bool = False) -> None:
        super().__init__(agent, cfg, ignore_terminated)
        self.pi = copy_mlp(agent.actor.net)
        self.pi_targ = copy.deepcopy(self.pi).requires_grad_(False)
        self.pi_opt = torch.optim.Adam(self.pi.parameters(), lr=cfg.pi_lr)
        self.q_opt = torch.optim.Adam(
            itertools.chain(*(q.parameters() for q in self.qs)), lr=cfg.q_lr
        )
        self.updates = 0
        self.noise_clipped = self.bounds_clipped = False  # whether the clips ever acted

    def act(self, net: nn.Sequential, obs) -> torch.Tensor:
        return self.center + self.scale * torch.tanh(net(obs))

    def update(self, b) -> dict:
        cfg = self.cfg
        with torch.no_grad():
            mu_targ = self.act(self.pi_targ, b["next_obs"])
            noise = torch.randn(mu_targ.shape) * cfg.target_noise
            eps = torch.clamp(noise, -cfg.noise_clip, cfg.noise_clip)
            a2 = torch.max(torch.min(mu_targ + eps, self.high), self.low)
            self.noise_clipped |= bool((eps != noise).any())
            self.bounds_clipped |= bool((a2 != mu_targ + eps).any())
            q_next = torch.min(*(self.q_of(q, b["next_obs"], a2) for q in self.q_targs))
            y = b["rewards"] + cfg.gamma * self.not_done(b) * q_next
        q1, loss_q = self.critic_step(b, y)
        logged = {"Q1Vals": q1.mean().item(), "LossQ": loss_q.item()}

        self.updates += 1
        if self.updates % cfg.policy_delay == 0:
            self.set_critics_grad(False)
            loss_pi = -self.q_of(self.qs[0], b["obs"], self.act(self.pi, b["obs"])).mean()
            self.pi_opt.zero_grad()
            loss_pi.backward()
            self.pi_opt.step()
            self.set_critics_grad(True)
            polyak(self.pi_targ, self.pi, cfg.polyak)
            for q, q_targ in zip(self.qs, self.q_targs, strict=True):
                polyak(q_targ, q, cfg.polyak)
            logged["LossPi"] = loss_pi.item()
        return logged


# --- Running both side by side ---------------------------------------------------------------


def make_pair(algo: str, ignore_terminated: bool = False, **wrong):
    """spinrl's agent and the reference built from its initial weights; ``wrong`` changes the
    reference's hyperparameters only (to see the comparison fail)."""
    cfg = CONFIGS[algo]
    torch.manual_seed(0)
    if algo == "sac":
        agent = sac.SACAgent(OBS_SPACE, ACT_SPACE, cfg)
        ref = ReferenceSAC(agent, dataclasses.replace(cfg, **wrong), ignore_terminated)
    else:
        agent = td3.TD3Agent(OBS_SPACE, ACT_SPACE, cfg)
        ref = ReferenceTD3(agent, dataclasses.replace(cfg, **wrong), ignore_terminated)
    return agent, ref


def make_batch(rng: np.random.Generator) -> dict:
    terminated = rng.permutation(np.arange(BATCH) % 4 == 0)  # 8 of 32 terminated
    arrays = {
        "obs": rng.normal(size=(BATCH, OBS_DIM)),
        "actions": rng.uniform(LOW, HIGH, size=(BATCH, ACT_DIM)),
        "rewards": rng.normal(size=BATCH),
        "next_obs": rng.normal(size=(BATCH, OBS_DIM)),
        "terminated": terminated,
    }
    return {k: torch.as_tensor(v, dtype=torch.float32) for k, v in arrays.items()}


def linears(net: nn.Sequential) -> list[nn.Linear]:
    return [m for m in net if isinstance(m, nn.Linear)]


def parameter_pairs(agent, ref):
    """(name, spinrl's tensor, the reference's) for every parameter and target."""
    nets = [("actor", agent.actor.net, ref.pi)]
    if hasattr(ref, "pi_targ"):
        nets.append(("actor_target", agent.actor_target.net, ref.pi_targ))
    for name, got_net, want_net in nets:
        for i, (got, want) in enumerate(zip(linears(got_net), linears(want_net), strict=True)):
            yield f"{name}.{i}.weight", got.weight, want.weight
            yield f"{name}.{i}.bias", got.bias, want.bias
    critics = [("q", agent.q, ref.qs), ("q_target", agent.q_target, ref.q_targs)]
    for name, ensemble, members in critics:
        for k, critic in enumerate(members):
            for i, (w, b, linear) in enumerate(
                zip(ensemble.weights, ensemble.biases, linears(critic), strict=True)
            ):
                yield f"{name}[{k}].{i}.weight", w[k].T, linear.weight
                yield f"{name}[{k}].{i}.bias", b[k, 0], linear.bias
    if hasattr(ref, "log_alpha"):
        yield "log_alpha", agent.log_alpha, ref.log_alpha


def assert_same(agent, ref, got: dict, want: dict, step: int) -> None:
    assert got.keys() == want.keys(), step
    for key, value in want.items():
        assert got[key] == pytest.approx(value, rel=RTOL, abs=ATOL), (step, key)
    for name, got_p, want_p in parameter_pairs(agent, ref):
        torch.testing.assert_close(
            got_p.detach(), want_p.detach(), rtol=RTOL, atol=ATOL, msg=f"step {step}: {name}"
        )


def run_side_by_side(algo: str, updates: int = 5, **reference_options):
    agent, ref = make_pair(algo, **reference_options)
    assert_same(agent, ref, {}, {}, step=-1)  # the same networks to begin with
    rng = np.random.default_rng(0)
    for step in range(updates):
        b = make_batch(rng)
        torch.manual_seed(100 + step)  # the same noise, drawn in the same order
        got = agent.update(b)
        torch.manual_seed(100 + step)
        want = ref.update(b)
        assert_same(agent, ref, got, want, step)
    return agent, ref


# --- The tests --------------------------------------------------------------------------------


def test_sac_updates_equal_the_textbook_sac_step_for_step():
    initial, _ = make_pair("sac")
    agent, _ = run_side_by_side("sac", updates=5)
    # the temperature and the critics' targets moved
    assert agent.log_alpha.item() != pytest.approx(math.log(CONFIGS["sac"].alpha_init))
    assert not torch.equal(agent.q_target.weights[0], initial.q_target.weights[0])


def test_td3_updates_equal_the_textbook_td3_step_for_step():
    agent, ref = run_side_by_side("td3", updates=6)  # three actor and target steps
    assert ref.updates == 6
    # the smoothing noise's clip and the clip to the action bounds both acted
    assert ref.noise_clipped and ref.bounds_clipped
    assert not torch.equal(agent.actor_target.net[0].weight, agent.actor.net[0].weight)


@pytest.mark.parametrize(
    ("algo", "mistake"),
    [
        ("sac", {"gamma": 0.9}),
        ("sac", {"ignore_terminated": True}),
        ("td3", {"noise_clip": 1.0}),
        ("td3", {"policy_delay": 1}),
    ],
    ids=["sac-gamma", "sac-ignoring-terminated", "td3-noise-clip", "td3-policy-delay"],
)
def test_the_comparison_fails_against_a_wrong_reference(algo, mistake):
    with pytest.raises(AssertionError):
        run_side_by_side(algo, updates=2, **mistake)
