"""Checks of the algorithm exercises: 1.2 (PPO's Gaussian actor) and 1.3 (TD3's target and
losses). Each piece is first checked on its own against spinrl's (diag_gaussian_log_prob,
td3.q_target), then plugged into spinrl's PPO or TD3 for a short training run that must learn.
"""

from __future__ import annotations

import contextlib
import math

import numpy as np
import torch
from torch import nn

from spinrl.algos import td3
from spinrl.encoders import flat_obs_dim
from spinrl.exercises.checks import (
    Check,
    compare,
    failed_call,
    judge,
    learner_function,
    learns,
    pendulum_config,
    show,
    skipped,
    train_until,
)
from spinrl.exercises.part1 import gaussian_mistakes
from spinrl.policies import ACTIVATIONS, GaussianActor, diag_gaussian_log_prob

# --- 1.2 ------------------------------------------------------------------------------------


def ppo_actor(module, quick: bool = False) -> list[Check]:
    cls, missing = learner_function(module, "GaussianActor")
    if missing:
        return missing
    torch.manual_seed(0)
    name = "GaussianActor(5, 2, hid=(16, 16)) builds mu_net and log_std"
    try:
        actor = cls(5, 2, (16, 16), nn.Tanh)
    except Exception as e:
        return [failed_call(name, "mu_net and log_std", e), skipped("the rest", "fix __init__")]
    built = _structure_check(name, actor)
    if not built.passed:
        return [built, skipped("the rest", "fix __init__ first")]
    checks = [built, _log_prob_check(actor), _log_prob_gradient_check(actor), _sample_check(actor)]
    if not all(c.passed for c in checks):
        return [*checks, skipped("training PPO on InvertedPendulum-v5", "fix the checks above")]
    if quick:
        return [*checks, skipped("training PPO on InvertedPendulum-v5", "skipped (--quick)")]
    return [*checks, _ppo_learns(cls)]


def _structure_check(name: str, actor) -> Check:
    net, log_std = getattr(actor, "mu_net", None), getattr(actor, "log_std", None)
    want = "mu_net: Sequential 5 -> 16 -> 16 -> 2; log_std: Parameter [2] of -0.5"
    if not isinstance(net, nn.Sequential):
        return Check(
            name,
            False,
            want,
            f"mu_net is {type(net).__name__}",
            "self.mu_net must be an nn.Sequential",
        )
    linears = [m for m in net if isinstance(m, nn.Linear)]
    sizes = [m.in_features for m in linears] + [linears[-1].out_features] if linears else []
    if sizes != [5, 16, 16, 2]:
        return Check(
            name, False, want, f"layer sizes {sizes}", "Linear layers obs_dim -> hid... -> act_dim"
        )
    others = [type(m) for m in net if not isinstance(m, nn.Linear)]
    if len(others) != len(linears) - 1 or not isinstance(net[-1], nn.Linear):
        return Check(
            name,
            False,
            want,
            f"activations {[t.__name__ for t in others]}",
            "one activation between each two Linear layers, none after the last: the "
            "mean must be free to take any value",
        )
    if not isinstance(log_std, nn.Parameter) or tuple(log_std.shape) != (2,):
        return Check(
            name,
            False,
            want,
            f"log_std is {show(log_std)}",
            "self.log_std must be an nn.Parameter of shape [act_dim], so it is learned",
        )
    if not torch.allclose(log_std.detach(), torch.full((2,), -0.5)):
        return Check(name, False, want, f"log_std {show(log_std)}", "initialise log_std to -0.5")
    return Check(name, True, want, "as expected")


def _batch(seed: int, batch: int = 64):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(batch, 5, generator=gen), torch.randn(batch, 2, generator=gen)


def _log_prob_check(actor) -> Check:
    obs, act = _batch(1)
    with torch.no_grad():
        actor.log_std.copy_(torch.tensor([-0.3, 0.4]))  # not the initial value: any sigma
        mu = actor.mu_net(obs)
        want = diag_gaussian_log_prob(act, mu, actor.log_std)
        mistakes = gaussian_mistakes(act, mu, actor.log_std.detach().clone())
    return compare(
        "log_prob of a [64, 2] batch",
        lambda: actor.log_prob(obs, act),
        want,
        mistakes,
        "log_prob must be eq. 1.3 of mu_net(obs) and log_std",
    )


def _log_prob_gradient_check(actor) -> Check:
    name = "log_prob is differentiable in mu_net's weights and in log_std"
    obs, act = _batch(2)
    actor.zero_grad()
    try:
        actor.log_prob(obs, act).sum().backward()
    except Exception as e:
        return failed_call(name, "gradients", e)
    missing = [n for n, p in actor.named_parameters() if p.grad is None or not p.grad.any()]
    if missing:
        return Check(
            name,
            False,
            "a gradient for every parameter",
            f"none for {missing}",
            "compute log_prob from mu_net(obs) and self.log_std with torch operations "
            "(no .detach(), no torch.no_grad() around it)",
        )
    return Check(name, True, "a gradient for every parameter", "all have one")


def _sample_check(actor) -> Check:
    name = "sample: mean, std and log-likelihood of 20000 draws at one state"
    obs = torch.randn(1, 5, generator=torch.Generator().manual_seed(3)).expand(20000, 5)
    torch.manual_seed(4)
    try:
        act, logp = actor.sample(obs)
        act, logp = act.detach(), logp.detach()
    except Exception as e:
        return failed_call(name, "actions and log-likelihoods", e)
    with torch.no_grad():
        mu, sigma = actor.mu_net(obs[:1])[0], actor.log_std.exp()
        want_logp = diag_gaussian_log_prob(act, actor.mu_net(obs), actor.log_std)
    want = f"mean {show(mu)}, std {show(sigma)}"
    if tuple(act.shape) != (20000, 2):
        return Check(name, False, want, f"actions of shape {list(act.shape)}", "one per state")
    mean, std = act.mean(0), act.std(0)
    got = f"mean {show(mean)}, std {show(std)}"
    if not torch.allclose(std, sigma, rtol=0.04):
        hint = "scale the noise by sigma = exp(log_std)"
        if torch.allclose(std, sigma**2, rtol=0.04):
            hint = "the noise is scaled by sigma^2: scale it by sigma = exp(log_std)"
        elif torch.allclose(std, torch.ones(2), rtol=0.04):
            hint = "the noise is not scaled: a = mu + sigma * eps"
        return Check(name, False, want, got, hint)
    if not ((mean - mu).abs() < 5 * sigma / math.sqrt(20000)).all():
        return Check(name, False, want, got, "center the samples on mu_net(obs)")
    if not torch.allclose(logp, want_logp, rtol=1e-4, atol=1e-4):
        return Check(
            name,
            False,
            f"log pi(a|s) {show(want_logp)}",
            f"{show(logp)}",
            "return log pi of the actions you sampled (eq. 1.3)",
        )
    return Check(name, True, want, got)


PPO_BUDGET = dict(env="InvertedPendulum-v5", steps_per_epoch=4000, epochs=25, threshold=500.0)
"""The training check of 1.2: PPO (spinrl's defaults) with the learner's actor on
InvertedPendulum-v5, epochs of 4000 steps until an epoch's average return reaches 500 (of
1000; a random policy scores about 8), within 25 epochs. The reference solution gets there
in about 13 (10 s on 2 cores)."""


def _plugged_actor(learner: nn.Module, obs_dim: int, act_dim: int) -> GaussianActor:
    """spinrl's Gaussian actor with the learner's networks and log_prob in it: the rollout
    samples with spinrl's code from the learner's mu_net and log_std, and every log-likelihood
    PPO's update computes (the ratio, the KL estimate) is the learner's log_prob."""
    actor = GaussianActor(obs_dim, act_dim, hid=())
    actor.mu_net = learner.mu_net
    actor.log_std = learner.log_std
    actor.log_prob = learner.log_prob
    return actor


@contextlib.contextmanager
def _actor_plugged(cls):
    """spinrl.onpolicy builds the learner's actor instead of its own while this is open."""
    from spinrl import onpolicy

    def make_actor(obs_space, act_space, hid, act, orthogonal=False, encoder=None, **kw):
        obs_dim, act_dim = flat_obs_dim(obs_space), int(act_space.shape[0])
        return _plugged_actor(cls(obs_dim, act_dim, hid, ACTIVATIONS[act]), obs_dim, act_dim)

    original = onpolicy.make_actor
    onpolicy.make_actor = make_actor
    try:
        yield
    finally:
        onpolicy.make_actor = original


def train_ppo_with(
    cls, env: str, steps_per_epoch: int, epochs: int, threshold: float, seed: int = 0
) -> list:
    """AverageEpRet per epoch of spinrl's PPO with the learner's actor class, stopping once
    it reaches ``threshold``."""
    from spinrl.algos import ppo

    history = []

    def reached(view):
        history.append(float(view.last_row.get("AverageEpRet", float("nan"))))
        return history[-1] >= threshold

    cfg = ppo.Config(env=env, steps_per_epoch=steps_per_epoch, epochs=epochs, seed=seed)
    with _actor_plugged(cls):
        ppo.train(cfg, verbose=False, callback=reached)
    return history


def _ppo_learns(cls) -> Check:
    b = PPO_BUDGET
    name = (
        f"training PPO on {b['env']} with your actor, up to {b['epochs']} epochs of "
        f"{b['steps_per_epoch']} steps: the best average return"
    )
    try:
        history = train_ppo_with(cls, b["env"], b["steps_per_epoch"], b["epochs"], b["threshold"])
    except Exception as e:
        return failed_call(name, b["threshold"], e)
    best = max(history)
    ok = best >= b["threshold"]
    return Check(
        name,
        ok,
        f">= {b['threshold']:g}",
        f"{best:.1f} after {len(history)} epochs",
        "" if ok else "the pieces pass on their own, but PPO does not learn with them",
    )


# --- 1.3 ------------------------------------------------------------------------------------


class _Nets:
    """Stand-in networks with known outputs: pi(obs) and q1, q2(obs, act) as given."""

    def __init__(self, pi, q1, q2) -> None:
        self.pi, self.q1, self.q2 = pi, q1, q2


def _td3_batch(B: int, seed: int, obs_dim: int = 3, act_dim: int = 2) -> dict:
    gen = torch.Generator().manual_seed(seed)
    return {
        "obs": torch.randn(B, obs_dim, generator=gen),
        "actions": torch.rand(B, act_dim, generator=gen) * 2 - 1,
        "rewards": torch.randn(B, generator=gen),
        "next_obs": torch.randn(B, obs_dim, generator=gen),
        "terminated": (torch.rand(B, generator=gen) < 0.3).float(),
    }


def td3_losses(module, quick: bool = False) -> list[Check]:
    loss_q, missing_q = learner_function(module, "compute_loss_q")
    loss_pi, missing_pi = learner_function(module, "compute_loss_pi")
    if missing_q or missing_pi:
        return (missing_q or []) + (missing_pi or [])
    checks = [*_loss_q_checks(loss_q), *_loss_pi_checks(loss_pi)]
    if not all(c.passed for c in checks):
        return [*checks, skipped("training TD3 on Pendulum-v1", "fix the checks above first")]
    if quick:
        return [*checks, skipped("training TD3 on Pendulum-v1", "skipped (--quick)")]
    return [*checks, _td3_learns(module)]


def _loss_q_checks(loss_q) -> list[Check]:
    B, gamma = 32, 0.9
    data = _td3_batch(B, 0)
    s_sum = data["obs"].sum(-1)
    p1, p2 = torch.randn(B), torch.randn(B) + 1  # the critics' own outputs, as leaves
    leaf = {}
    # Target networks whose outputs depend on a leaf: a gradient there means y was not cut off.
    targ_param = torch.ones((), requires_grad=True)
    a_targ = torch.tanh(data["next_obs"][:, :2])
    a_online = -a_targ

    def q_targ(k):
        return lambda o, a: targ_param * (o.sum(-1) * k + a.sum(-1) * (2 - k))

    def q_online(p, name):
        def q(o, a):
            leaf[name] = p.clone().requires_grad_()
            return leaf[name] + o.sum(-1) + a.sum(-1)

        return q

    ac = _Nets(lambda o: a_online, q_online(p1, "q1"), q_online(p2, "q2"))
    ac_targ = _Nets(lambda o: a_targ, q_targ(1.0), q_targ(0.5))
    with torch.no_grad():
        q1_now = p1 + s_sum + data["actions"].sum(-1)
        q2_now = p2 + s_sum + data["actions"].sum(-1)
        t1, t2 = q_targ(1.0)(data["next_obs"], a_targ), q_targ(0.5)(data["next_obs"], a_targ)
        r, d = data["rewards"], data["terminated"]
        y = td3.q_target(r, torch.min(t1, t2), d, gamma)
        want = ((q1_now - y) ** 2).mean() + ((q2_now - y) ** 2).mean()

        def loss_with(y_wrong):
            return ((q1_now - y_wrong) ** 2).mean() + ((q2_now - y_wrong) ** 2).mean()

        o1 = q_targ(1.0)(data["next_obs"], a_online)
        o2 = q_targ(0.5)(data["next_obs"], a_online)
        mistakes = [
            (
                "bootstrapping through termination: multiply the future by (1 - terminated)",
                loss_with(r + gamma * torch.min(t1, t2)),
            ),
            (
                "the flag is inverted: it is (1 - terminated), not terminated",
                loss_with(r + gamma * d * torch.min(t1, t2)),
            ),
            (
                "max of the two target critics: TD3 takes the min (clipped double Q)",
                loss_with(td3.q_target(r, torch.max(t1, t2), d, gamma)),
            ),
            (
                "only Q_targ,1 in the target: take the min of both target critics",
                loss_with(td3.q_target(r, t1, d, gamma)),
            ),
            (
                "a' comes from the target actor ac_targ.pi, not from ac.pi",
                loss_with(td3.q_target(r, torch.min(o1, o2), d, gamma)),
            ),
            (
                "only Q_1 is trained: add the loss of Q_2 against the same target",
                ((q1_now - y) ** 2).mean(),
            ),
            ("a sum over the batch: take the mean of each critic's squared error", want * B),
            (
                "the discount gamma is missing",
                loss_with(td3.q_target(r, torch.min(t1, t2), d, 1.0)),
            ),
        ]
    name = "L_Q on a batch of 32 (target_noise 0), against td3.q_target"
    checks = []

    def call():
        return loss_q(data, ac, ac_targ, gamma, 0.0, 0.5, 1.0)

    try:
        got = call()
    except Exception as e:
        return [failed_call(name, want, e)]
    checks.append(
        judge(
            name,
            got,
            want,
            mistakes,
            "L_Q = mean (Q_1 - y)^2 + mean (Q_2 - y)^2 with the clipped double-Q y",
        )
    )
    if not checks[-1].passed:
        return checks
    name = "no gradient flows into the target y"
    try:
        got.backward()
    except Exception as e:
        return [*checks, failed_call(name, "no gradient", e)]
    leaked = targ_param.grad is not None and bool(targ_param.grad != 0)
    checks.append(
        Check(
            name,
            not leaked,
            "no gradient in the target networks",
            "a gradient" if leaked else "none",
            "stop the gradient at y: compute it under torch.no_grad() (or .detach() "
            "it); only Q_1(s, a) and Q_2(s, a) are trained by L_Q"
            if leaked
            else "",
        )
    )
    checks.append(_smoothing_check(loss_q))
    return checks


def _smoothing_check(loss_q) -> Check:
    """Read a' back from the loss's gradient: with Q_targ(s', a') = sum(a'), the target is
    y = r + gamma sum(a'), and d L_Q / d Q_1 = 2 (Q_1 - y) / B gives y."""
    B, gamma, noise, clip, limit = 4000, 1.0, 0.5, 0.2, 1.0
    name = "smoothing noise: a' = clip(mu_targ + clip(eps, -0.2, 0.2), -1, 1) with mu_targ 0.9"
    data = _td3_batch(B, 1)
    data["terminated"] = torch.zeros(B)
    leaf = torch.zeros(B, requires_grad=True)
    ac = _Nets(lambda o: torch.zeros(B, 2), lambda o, a: leaf, lambda o, a: leaf.detach())
    ac_targ = _Nets(
        lambda o: torch.full((B, 2), 0.9), lambda o, a: a.sum(-1), lambda o, a: a.sum(-1) + 1.0
    )
    want = "sums of a' in [1.4, 2.0], spread > 0.05"
    torch.manual_seed(5)
    try:
        loss_q(data, ac, ac_targ, gamma, noise, clip, limit).backward()
    except Exception as e:
        return failed_call(name, want, e)
    if leaf.grad is None:
        return Check(name, False, want, "no gradient in Q_1", "use ac.q1(obs, act) in L_Q")
    sums = (leaf.detach() - B / 2 * leaf.grad - data["rewards"]) / gamma  # sum(a') per row
    got = f"sums in [{sums.min():.3f}, {sums.max():.3f}], spread {sums.std():.3f}"
    if sums.std() < 0.05:
        return Check(
            name,
            False,
            want,
            got,
            "no smoothing noise: add clipped Gaussian noise of std target_noise to mu_targ(s')",
        )
    if sums.max() > 2 * limit + 1e-4:
        return Check(
            name, False, want, got, "clip a' to [-act_limit, act_limit] after adding the noise"
        )
    if sums.min() < 2 * (0.9 - clip) - 1e-4:
        return Check(name, False, want, got, "clip the noise to [-noise_clip, noise_clip]")
    return Check(name, True, want, got)


def _loss_pi_checks(loss_pi) -> list[Check]:
    B = 32
    data = _td3_batch(B, 2)
    w = torch.tensor([1.5, -0.5])
    actions = torch.rand(B, 2, generator=torch.Generator().manual_seed(6)) * 2 - 1
    leaf = actions.clone().requires_grad_()
    ac = _Nets(
        lambda o: leaf, lambda o, a: (a * w).sum(-1) + o.sum(-1), lambda o, a: -(a * w).sum(-1)
    )
    with torch.no_grad():
        q1 = (actions * w).sum(-1) + data["obs"].sum(-1)
        q2 = -(actions * w).sum(-1)
        want = -q1.mean()
    mistakes = [
        ("a sign: the actor maximises Q, so its loss is -Q_1", -want),
        ("TD3's actor follows Q_1 alone, not Q_2", -q2.mean()),
        ("TD3's actor follows Q_1 alone, not the min of both critics", -torch.min(q1, q2).mean()),
        ("a sum over the batch: take the mean", want * B),
    ]
    checks = [
        compare(
            "L_pi on a batch of 32",
            lambda: loss_pi(data, ac),
            want,
            mistakes,
            "L_pi = -mean Q_1(s, mu(s))",
        )
    ]
    if not checks[-1].passed:
        return checks
    name = "the gradient of L_pi reaches the actor's action mu(s)"
    leaf.grad = None
    expected = (-w / B).expand(B, 2)
    detached = "the action is detached: the gradient must flow from Q_1 back into mu(s)"
    try:
        loss = loss_pi(data, ac)
        if not loss.requires_grad:
            return [*checks, Check(name, False, show(expected), "no gradient", detached)]
        loss.backward()
    except Exception as e:
        return [*checks, failed_call(name, "a gradient", e)]
    got = leaf.grad if leaf.grad is not None else torch.zeros_like(leaf)
    checks.append(
        judge(
            name,
            got,
            expected,
            [(detached, torch.zeros_like(leaf))],
            "d L_pi / d mu(s) should be -(1/B) d Q_1 / d a",
        )
    )
    return checks


TD3_BUDGET = dict(steps_per_epoch=1000, epochs=15, start_steps=1000, threshold=-400.0)
"""The training check of 1.3: TD3 on Pendulum-v1 with the learner's losses, epochs of 1000
steps (the first 1000 random), until the average test return reaches -400 (a random policy
scores about -1200), within 15 epochs."""


class _PluggedTD3(td3.TD3Agent):
    """spinrl's TD3 agent with the learner's losses in its update (same schedule: delayed
    actor and target updates, the actor step with the critics frozen)."""

    def __init__(self, obs_dim, act_space, cfg, module) -> None:
        super().__init__(obs_dim, act_space, cfg)
        self.module = module
        self.act_limit = float(np.max(np.abs(act_space.high)))
        self.ac = _Nets(self.actor, self._q(self.q, 0), self._q(self.q, 1))
        self.ac_targ = _Nets(
            self.actor_target, self._q(self.q_target, 0), self._q(self.q_target, 1)
        )

    @staticmethod
    def _q(ensemble, k):
        return lambda obs, act: ensemble.member(obs, act, k)

    def update(self, b: dict) -> dict:
        cfg = self.cfg
        loss_q = self.module.compute_loss_q(
            b, self.ac, self.ac_targ, cfg.gamma, cfg.target_noise, cfg.noise_clip, self.act_limit
        )
        self.q_opt.zero_grad()
        loss_q.backward()
        self.q_opt.step()
        self.updates += 1
        stats = {"LossQ": loss_q.item()}
        if self.updates % cfg.policy_delay == 0:
            self.q.requires_grad_(False)
            loss_pi = self.module.compute_loss_pi(b, self.ac)
            self.pi_opt.zero_grad()
            loss_pi.backward()
            self.pi_opt.step()
            self.q.requires_grad_(True)
            td3.polyak_update(self.targets, self.sources, cfg.polyak)
            stats["LossPi"] = loss_pi.item()
        with torch.no_grad():
            stats["Q1Vals"] = float(self.q.member(b["obs"], b["actions"]).mean())
        return stats


def train_td3_with(
    module, steps_per_epoch: int, epochs: int, start_steps: int, threshold: float, seed: int = 0
) -> list[float]:
    """AverageTestEpRet per epoch of TD3 on Pendulum-v1 with the learner's losses, stopping
    once it reaches ``threshold``."""
    cfg = pendulum_config(td3, steps_per_epoch, epochs, start_steps, seed)

    def make_agent(obs_space, act_space):
        return _PluggedTD3(obs_space, act_space, cfg, module)

    return train_until("td3", cfg, make_agent, threshold)


def _td3_learns(module) -> Check:
    b = TD3_BUDGET
    name = (
        f"training TD3 on Pendulum-v1 with your losses, up to {b['epochs']} epochs of "
        f"{b['steps_per_epoch']} steps: the best average test return"
    )
    steps = b["steps_per_epoch"], b["epochs"], b["start_steps"], b["threshold"]
    hint = "the pieces pass on their own, but TD3 does not learn with them"
    return learns(name, b["threshold"], lambda: train_td3_with(module, *steps), hint)
