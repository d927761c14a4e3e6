"""Policies and value functions of Part 1: mlp(), stochastic actors, V and Q critics.

A stochastic actor maps a batch of observations to a distribution over actions and exposes
the four things the algorithms need (docs/theory/part1.md, "Policies"):

- ``sample(obs)``         an action a ~ pi(.|s) and its log-likelihood log pi(a|s)
- ``log_prob(obs, act)``  log pi(a|s) for given actions (differentiable)
- ``entropy(obs)``        H[pi(.|s)]
- ``deterministic(obs)``  the most likely action (argmax for categorical, the mean for Gaussian)

The log-likelihoods are written out from their closed forms (eqs. 1.2 and 1.3 of the docs)
rather than taken from torch.distributions: they are the equations readers see, and a
direct tensor expression is cheaper per call than building a distribution object.

Every actor and critic reads its observations through an optional *encoder*
(spinrl.encoders.make_encoder): none for flat vectors, a CNN for images, one encoder per key
for Dict observations; the MLP heads then read its features.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from contextlib import contextmanager

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from spinrl.encoders import build_encoder, features_dim, make_encoder
from spinrl.errors import EnvError

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "tanh": nn.Tanh,
    "relu": nn.ReLU,
    "elu": nn.ELU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
}

LOG_2PI = math.log(2.0 * math.pi)


def activation(name: str) -> type[nn.Module]:
    try:
        return ACTIVATIONS[name]
    except KeyError:
        raise ValueError(
            f"unknown activation {name!r}; choose one of {', '.join(ACTIVATIONS)}"
        ) from None


def mlp(
    sizes: Sequence[int],
    act: str = "tanh",
    output_gain: float | None = None,
    hidden_gain: float | None = None,
) -> nn.Sequential:
    """A multi-layer perceptron sizes[0] -> ... -> sizes[-1], ``act`` between hidden layers.

    With ``hidden_gain`` / ``output_gain`` set, weights are orthogonally initialised with that
    gain and biases zeroed (the PPO implementation detail); otherwise PyTorch's default init.
    """
    act_cls = activation(act)
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        linear = nn.Linear(sizes[i], sizes[i + 1])
        last = i == len(sizes) - 2
        gain = output_gain if last else hidden_gain
        if gain is not None:
            nn.init.orthogonal_(linear.weight, gain=gain)
            nn.init.zeros_(linear.bias)
        layers.append(linear)
        if not last:
            layers.append(act_cls())
    return nn.Sequential(*layers)


def run_mlp(net: nn.Sequential, x: torch.Tensor) -> torch.Tensor:
    """net(x), layer by layer with functional calls: the same result, without the ~30 us that
    each nn.Module call costs on a CPU (a fifth of a PPO minibatch step at these sizes)."""
    for layer in net:
        if type(layer) is nn.Linear:
            x = nn.functional.linear(x, layer.weight, layer.bias)
        else:
            x = _ACT_FN[type(layer)](x)
    return x


def _init_gains(orthogonal: bool, output_gain: float) -> dict:
    return dict(hidden_gain=math.sqrt(2), output_gain=output_gain) if orthogonal else {}


class Encoded(nn.Module):
    """A network that reads its observations through an optional encoder (None: as they
    are). Subclasses set ``self.encoder`` in their constructor and call
    ``self.features(obs)`` where they used to read ``obs``. Within ``encoded_once`` they
    read features already computed instead."""

    features_given = False

    def features(self, obs: torch.Tensor) -> torch.Tensor:
        if self.encoder is not None and not self.features_given:
            return self.encoder(obs)
        return obs if obs.is_floating_point() else obs.float()  # e.g. uint8 RAM vectors


@contextmanager
def encoded_once(actor: nn.Module, critic: nn.Module, obs: torch.Tensor):
    """Where the actor and the critic share one encoder (PPO's CNN trunk): yield its features
    of ``obs``, computed once, and let both read them as their input inside the block; the
    gradient reaching the trunk is the same sum of both heads' as with two passes, for half
    the work. Otherwise yield ``obs`` unchanged."""
    encoder = getattr(actor, "encoder", None)
    if encoder is None or getattr(critic, "encoder", None) is not encoder:
        yield obs
        return
    features = encoder(obs)
    actor.features_given = critic.features_given = True
    try:
        yield features
    finally:
        actor.features_given = critic.features_given = False


class CategoricalActor(Encoded):
    """pi(a|s) = softmax(logits(s))_a over a finite action set (docs eq. 1.2)."""

    def __init__(
        self,
        obs_dim: int,
        n_actions: int,
        hid=(64, 64),
        act="tanh",
        orthogonal=False,
        encoder: nn.Module | None = None,
    ) -> None:
        super().__init__()
        self.encoder = encoder
        self.logits_net = mlp([obs_dim, *hid, n_actions], act, **_init_gains(orthogonal, 0.01))

    @property
    def net(self) -> nn.Sequential:
        return self.logits_net

    def log_probs_all(self, obs: torch.Tensor) -> torch.Tensor:
        """log pi(a|s) for every action a: shape [B, n_actions]."""
        return torch.log_softmax(run_mlp(self.logits_net, self.features(obs)), dim=-1)

    def sample(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logp_all = self.log_probs_all(obs)
        # Inverse-CDF sampling: the first action whose cumulative probability exceeds u.
        # Half the cost of torch.multinomial for the small batches of a rollout step.
        u = torch.rand((*logp_all.shape[:-1], 1))
        act = (logp_all.exp().cumsum(-1) < u).sum(-1, keepdim=True)
        act = act.clamp_max(logp_all.shape[-1] - 1)
        return act.squeeze(-1), logp_all.gather(-1, act).squeeze(-1)

    def numpy_sampler(self):
        """A function (logits, rng) -> (actions, log pi(a|s)) for the rollout, which gets the
        logits from fused_forward and samples in numpy (cheaper than torch at these sizes).

        Gumbel-max: argmax_a (logit_a + g_a) with g_a ~ Gumbel(0, 1) is distributed as
        softmax(logits).
        """

        def sample(logits: np.ndarray, rng: np.random.Generator):
            act = np.argmax(logits + rng.gumbel(size=logits.shape), axis=-1)
            top = logits.max(-1)
            log_norm = top + np.log(np.exp(logits - top[:, None]).sum(-1))
            return act, logits[np.arange(len(act)), act] - log_norm

        return sample

    def log_prob(self, obs: torch.Tensor, act: torch.Tensor) -> torch.Tensor:
        logp_all = self.log_probs_all(obs)
        return logp_all.gather(-1, act.long().unsqueeze(-1)).squeeze(-1)

    def log_prob_and_entropy(self, obs, act) -> tuple[torch.Tensor, torch.Tensor]:
        logp_all = self.log_probs_all(obs)
        logp = logp_all.gather(-1, act.long().unsqueeze(-1)).squeeze(-1)
        return logp, -(logp_all.exp() * logp_all).sum(-1)

    def entropy(self, obs: torch.Tensor) -> torch.Tensor:
        logp_all = self.log_probs_all(obs)
        return -(logp_all.exp() * logp_all).sum(-1)

    def dist_params(self, obs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """The numbers that pin down pi(.|s): the log-probabilities of all actions."""
        return (self.log_probs_all(obs),)

    def kl(self, old: tuple[torch.Tensor, ...], obs: torch.Tensor) -> torch.Tensor:
        """Mean over the batch of KL(pi_old(.|s) || pi(.|s)) = sum_a p_old (log p_old - log p)."""
        (logp_old,) = old
        return (logp_old.exp() * (logp_old - self.log_probs_all(obs))).sum(-1).mean()

    def deterministic(self, obs: torch.Tensor) -> torch.Tensor:
        return run_mlp(self.logits_net, self.features(obs)).argmax(-1)


def diag_gaussian_log_prob(x: torch.Tensor, mu: torch.Tensor, log_std: torch.Tensor):
    """log N(x; mu, diag(sigma^2)), summed over the last (action) dimension (docs eq. 1.3):

    -1/2 sum_i [((x_i - mu_i) / sigma_i)^2 + 2 log sigma_i + log 2 pi]
    """
    z = (x - mu) * torch.exp(-log_std)
    return -0.5 * (z.pow(2) + 2.0 * log_std + LOG_2PI).sum(-1)


class GaussianActor(Encoded):
    """pi(a|s) = N(mu(s), diag(sigma^2)) with a state-independent log sigma (as in Spinning Up).

    Samples are unbounded; the rollout clips them to the action bounds before the environment
    sees them, and the log-likelihood is always that of the unclipped sample.
    """

    def __init__(
        self,
        obs_dim: int,
        act_dim: int,
        hid=(64, 64),
        act="tanh",
        log_std_init: float = -0.5,
        orthogonal=False,
        encoder: nn.Module | None = None,
    ) -> None:
        super().__init__()
        self.encoder = encoder
        self.mu_net = mlp([obs_dim, *hid, act_dim], act, **_init_gains(orthogonal, 0.01))
        self.log_std = nn.Parameter(torch.full((act_dim,), float(log_std_init)))

    @property
    def net(self) -> nn.Sequential:
        return self.mu_net

    def sample(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu = run_mlp(self.mu_net, self.features(obs))
        act = mu + torch.randn_like(mu) * self.log_std.exp()
        return act, diag_gaussian_log_prob(act, mu, self.log_std)

    def numpy_sampler(self):
        """A function (means, rng) -> (actions, log pi(a|s)) for the rollout, which gets the
        means from fused_forward and samples in numpy. sigma is fixed until the next update.

        With a = mu + sigma * eps, eq. 1.3 reduces to
        -1/2 sum_i eps_i^2 - (sum_i log sigma_i + k/2 log 2pi).
        """
        log_std = self.log_std.detach().numpy().copy()
        std = np.exp(log_std)
        const = -float(log_std.sum() + 0.5 * len(log_std) * LOG_2PI)

        def sample(mu: np.ndarray, rng: np.random.Generator):
            eps = rng.standard_normal(mu.shape, dtype=np.float32)
            return mu + eps * std, const - 0.5 * np.square(eps).sum(-1)

        return sample

    def log_prob(self, obs: torch.Tensor, act: torch.Tensor) -> torch.Tensor:
        return diag_gaussian_log_prob(act, run_mlp(self.mu_net, self.features(obs)), self.log_std)

    def log_prob_and_entropy(self, obs, act) -> tuple[torch.Tensor, torch.Tensor]:
        logp = self.log_prob(obs, act)
        return logp, self._entropy().expand(logp.shape)

    def _entropy(self) -> torch.Tensor:
        # H[N(mu, diag sigma^2)] = sum_i (log sigma_i + 1/2 log(2 pi e)): independent of s.
        return (self.log_std + 0.5 * (LOG_2PI + 1.0)).sum()

    def entropy(self, obs: torch.Tensor) -> torch.Tensor:
        return self._entropy().expand(self.features(obs).shape[:-1])

    def dist_params(self, obs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """The numbers that pin down pi(.|s): the means and the log standard deviations."""
        return run_mlp(self.mu_net, self.features(obs)), self.log_std

    def kl(self, old: tuple[torch.Tensor, ...], obs: torch.Tensor) -> torch.Tensor:
        """Mean over the batch of KL(N_old || N), in closed form per dimension:
        log(sigma / sigma_old) + (sigma_old^2 + (mu_old - mu)^2) / (2 sigma^2) - 1/2."""
        mu_old, log_std_old = old
        mu, log_std = self.dist_params(obs)  # (a subclass's may depend on s: spinrl.sde)
        var, var_old = (2 * log_std).exp(), (2 * log_std_old).exp()
        kl = log_std - log_std_old + (var_old + (mu_old - mu).pow(2)) / (2 * var) - 0.5
        return kl.sum(-1).mean()

    def deterministic(self, obs: torch.Tensor) -> torch.Tensor:
        return run_mlp(self.mu_net, self.features(obs))


class VCritic(Encoded):
    """V(s): one number per observation. Its ``encoder`` may be the actor's own (one trunk
    for both, as CleanRL's PPO on images)."""

    def __init__(
        self,
        obs_dim: int,
        hid=(64, 64),
        act="tanh",
        orthogonal=False,
        encoder: nn.Module | None = None,
    ) -> None:
        super().__init__()
        self.encoder = encoder
        self.v_net = mlp([obs_dim, *hid, 1], act, **_init_gains(orthogonal, 1.0))

    @property
    def net(self) -> nn.Sequential:
        return self.v_net

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return run_mlp(self.v_net, self.features(obs)).squeeze(-1)


class QCritic(Encoded):
    """Q(s, a) for continuous actions: the concatenation [s, a] through an MLP."""

    def __init__(
        self,
        obs_dim: int,
        act_dim: int,
        hid=(256, 256),
        act="relu",
        encoder: nn.Module | None = None,
    ) -> None:
        super().__init__()
        self.encoder = encoder
        self.q_net = mlp([obs_dim + act_dim, *hid, 1], act)

    def forward(self, obs: torch.Tensor, act: torch.Tensor) -> torch.Tensor:
        return run_mlp(self.q_net, torch.cat([self.features(obs), act], dim=-1)).squeeze(-1)


_ACT_FN = {
    nn.Tanh: torch.tanh,
    nn.ReLU: torch.relu,
    nn.ELU: nn.functional.elu,
    nn.GELU: nn.functional.gelu,
    nn.SiLU: nn.functional.silu,
}
# In-place versions, for a layer's fresh output that nothing else holds (a product's backward
# needs its inputs, not its output): one buffer less to allocate and fill per layer.
_ACT_FN_INPLACE = {nn.Tanh: torch.tanh_, nn.ReLU: torch.relu_}


def _layers(net: nn.Sequential):
    linears = [m for m in net if isinstance(m, nn.Linear)]
    acts = [type(m) for m in net if not isinstance(m, nn.Linear)]
    return linears, acts


_NP_ACT_FN = {
    nn.Tanh: lambda x: np.tanh(x, out=x),
    nn.ReLU: lambda x: np.maximum(x, 0.0, out=x),
    nn.ELU: lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0.0))),
    nn.SiLU: lambda x: x / (1.0 + np.exp(-x)),
}


def fused_forward(nets: list[nn.Sequential]):
    """One forward pass for several MLPs reading the same input: numpy in, numpy outs.

    The rollout evaluates the actor and the critic on the same observations every step.
    Stacking their layers (first layers side by side, later ones block-diagonal) makes that
    one matmul per layer instead of one per layer per network, and doing it in NumPy skips
    torch's per-op dispatch (~4x faster for one observation): per-op overhead, not FLOPs,
    is the cost at these sizes. The weights are copied, so build it again after the networks
    change. MLPs of different depth or activation are evaluated one after the other; GELU,
    which NumPy lacks, runs in torch.
    """
    layers = [_layers(net) for net in nets]
    same_shape = all(len(lin) == len(layers[0][0]) and acts == layers[0][1] for lin, acts in layers)
    if not same_shape:
        parts = [fused_forward([net]) for net in nets]
        return lambda obs: [p(obs)[0] for p in parts]
    widths = [lin[-1].out_features for lin, _ in layers]
    bounds = list(zip(np.cumsum([0, *widths[:-1]]), np.cumsum(widths), strict=True))
    weights, biases = [], []
    with torch.no_grad():
        for depth in range(len(layers[0][0])):
            ws = [lin[depth].weight for lin, _ in layers]
            w = torch.cat(ws, 0) if depth == 0 else torch.block_diag(*ws)
            weights.append(w.detach().clone())
            biases.append(torch.cat([lin[depth].bias for lin, _ in layers]).detach().clone())
    if all(a in _NP_ACT_FN for a in layers[0][1]):
        np_acts = [_NP_ACT_FN[a] for a in layers[0][1]]
        np_weights = [np.ascontiguousarray(w.numpy().T) for w in weights]  # x @ W.T as x @ Wt
        np_biases = [b.numpy() for b in biases]

        def forward(obs: np.ndarray) -> list[np.ndarray]:
            x = np.asarray(obs, np.float32)
            for i, (w, b) in enumerate(zip(np_weights, np_biases, strict=True)):
                x = x @ w
                x += b
                if i < len(np_acts):
                    x = np_acts[i](x)
            return [x[:, a:b] for a, b in bounds]

        return forward
    act_fns = [_ACT_FN[a] for a in layers[0][1]]

    def torch_forward(obs: np.ndarray) -> list[np.ndarray]:
        with torch.inference_mode():
            x = torch.from_numpy(obs)
            for i, (w, b) in enumerate(zip(weights, biases, strict=True)):
                x = nn.functional.linear(x, w, b)
                if i < len(act_fns):
                    x = act_fns[i](x)
            out = x.numpy()
            return [out[:, a:b] for a, b in bounds]

    return torch_forward


def policy_forward(actor: nn.Module, critic: nn.Module | None):
    """The rollout's forward pass, numpy in, numpy outs: the actor's head outputs and, with a
    critic, its values ([B, 1]). Without encoders this is fused_forward over the two MLPs.
    With them, each distinct encoder runs once in torch (one pass for a trunk the actor and
    critic share) and the heads are fused over its features."""
    nets = [actor.net] if critic is None else [actor.net, critic.net]
    encoders = [
        getattr(m, "encoder", None) for m in ([actor] if critic is None else [actor, critic])
    ]
    if all(e is None for e in encoders):
        return fused_forward(nets)
    if len(encoders) == 1 or encoders[0] is encoders[1]:
        heads, encoder = fused_forward(nets), encoders[0]

        def shared(obs: np.ndarray) -> list[np.ndarray]:
            with torch.inference_mode():
                return heads(encoder(torch.from_numpy(obs)).numpy())

        return shared
    parts = [(fused_forward([net]), enc) for net, enc in zip(nets, encoders, strict=True)]

    def separate(obs: np.ndarray) -> list[np.ndarray]:
        with torch.inference_mode():
            x = torch.from_numpy(obs)
            return [head(x.numpy() if enc is None else enc(x).numpy())[0] for head, enc in parts]

    return separate


def make_actor(
    obs_space: gym.Space, act_space: gym.Space, hid, act, orthogonal=False, encoder="auto", **kw
):
    """The stochastic actor that fits these spaces: categorical for Discrete, Gaussian for Box.
    It reads observations through ``encoder`` ("auto": the one make_encoder picks)."""
    if encoder == "auto":
        encoder = make_encoder(obs_space, orthogonal)
    obs_dim = features_dim(obs_space, encoder)
    if isinstance(act_space, gym.spaces.Discrete):
        return CategoricalActor(obs_dim, int(act_space.n), hid, act, orthogonal, encoder)
    if isinstance(act_space, gym.spaces.Box) and len(act_space.shape) == 1:
        return GaussianActor(
            obs_dim,
            int(act_space.shape[0]),
            hid,
            act,
            orthogonal=orthogonal,
            encoder=encoder,
            **kw,
        )
    raise EnvError(
        f"action space {act_space} is not supported by the stochastic actors; "
        "they take Discrete or a 1-D Box"
    )


def action_clipper(act_space: gym.Space):
    """A numpy function that clips Gaussian samples to finite Box bounds (identity otherwise)."""
    if isinstance(act_space, gym.spaces.Box):
        low, high = act_space.low, act_space.high
        if np.all(np.isfinite(low)) and np.all(np.isfinite(high)):
            # np.minimum/np.maximum: np.clip's Python wrapper costs more than the work here.
            return lambda a: np.minimum(np.maximum(a, low), high)
    return lambda a: a


# --- Actors and critics of the off-policy family (DDPG, TD3, SAC) --------------------------


def hidden_trunk(in_dim: int, hid, act: str) -> nn.Sequential:
    """in_dim -> hid[-1], with ``act`` after every layer, the last included: the features a
    head reads (an empty Sequential, the input itself, when hid is ())."""
    trunk = mlp([in_dim, *hid], act) if hid else nn.Sequential()
    if hid:
        trunk.append(activation(act)())
    return trunk


def bounded(actor: nn.Module, act_space: gym.Space, encoder: nn.Module | None) -> int:
    """Give a continuous actor its action bounds (buffers center and scale, a = center +
    scale * x for x in [-1, 1]) and its encoder; returns the action width."""
    center, scale = _bounds(act_space)
    actor.register_buffer("center", center)
    actor.register_buffer("scale", scale)
    actor.encoder = encoder
    return len(center)


def _bounds(act_space: gym.Space) -> tuple[torch.Tensor, torch.Tensor]:
    """(center, scale) mapping [-1, 1] onto a finite Box: a = center + scale * x."""
    if not isinstance(act_space, gym.spaces.Box) or len(act_space.shape) != 1:
        raise EnvError(f"action space {act_space} is not a 1-D Box")
    low, high = act_space.low.astype(np.float64), act_space.high.astype(np.float64)
    if not (np.all(np.isfinite(low)) and np.all(np.isfinite(high))):
        raise EnvError(
            f"action space {act_space} has infinite bounds; the squashed and deterministic "
            "actors need finite ones (wrap the env with gymnasium.wrappers.RescaleAction)"
        )
    center = torch.as_tensor((high + low) / 2, dtype=torch.float32)
    return center, torch.as_tensor((high - low) / 2, dtype=torch.float32)


class SquashedGaussianActor(Encoded):
    """SAC's policy: u ~ N(mu(s), sigma(s)^2), a = center + scale * tanh(u).

    By the change of variables a = g(u) (docs eq. 5.3), the density of a is that of u divided
    by |det dg/du| = prod_i scale_i (1 - tanh(u_i)^2):

        log pi(a|s) = log N(u; mu, sigma) - sum_i [log scale_i + log(1 - tanh(u_i)^2)]

    with log(1 - tanh(u)^2) computed as 2 (log 2 - u - softplus(-2u)), which stays finite
    where tanh(u) rounds to +-1.
    """

    LOG_STD_MIN, LOG_STD_MAX = -20.0, 2.0

    def __init__(
        self,
        obs_dim: int,
        act_space: gym.Space,
        hid=(256, 256),
        act="relu",
        encoder: nn.Module | None = None,
    ) -> None:
        super().__init__()
        act_dim = bounded(self, act_space, encoder)
        self.net = mlp([obs_dim, *hid, 2 * act_dim], act)

    def _dist(self, obs):
        mu, log_std = run_mlp(self.net, self.features(obs)).chunk(2, dim=-1)
        return mu, log_std.clamp(self.LOG_STD_MIN, self.LOG_STD_MAX)

    def _squash(self, u: torch.Tensor) -> torch.Tensor:
        """a = g(u) = center + scale * tanh(u), inside the action bounds."""
        return self.center + self.scale * torch.tanh(u)

    def act(self, obs: torch.Tensor) -> torch.Tensor:
        """``sample(obs)[0]`` (the same draw) without its log-probability: what acting needs."""
        mu, log_std = self._dist(obs)
        return self._squash(mu + log_std.exp() * torch.randn_like(mu))

    def sample(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """A reparameterised sample a = g(mu + sigma * eps) and log pi(a|s)."""
        mu, log_std = self._dist(obs)
        eps = torch.randn_like(mu)
        u = mu + log_std.exp() * eps
        # (u - mu) / sigma is eps itself: log N(u; mu, sigma) without recomputing it.
        log_normal = -0.5 * (eps.square() + 2.0 * log_std + LOG_2PI).sum(-1)
        return self._squash(u), log_normal - self._log_det(u)

    def log_prob_of_u(self, u, mu, log_std) -> torch.Tensor:
        """log pi(a|s) of the action a = g(u) (the class docstring's formula)."""
        return diag_gaussian_log_prob(u, mu, log_std) - self._log_det(u)

    def _log_det(self, u: torch.Tensor) -> torch.Tensor:
        """log |det dg/du| = sum_i [log scale_i + log(1 - tanh(u_i)^2)]."""
        log_det = 2.0 * (math.log(2.0) - u - nn.functional.softplus(-2.0 * u))
        return (log_det + self.scale.log()).sum(-1)

    def deterministic(self, obs: torch.Tensor) -> torch.Tensor:
        """The action at the mean, for evaluation."""
        return self._squash(self._dist(obs)[0])


class DeterministicActor(Encoded):
    """DDPG's and TD3's policy: a = center + scale * tanh(mu(s))."""

    def __init__(
        self,
        obs_dim: int,
        act_space: gym.Space,
        hid=(256, 256),
        act="relu",
        encoder: nn.Module | None = None,
    ) -> None:
        super().__init__()
        self.net = mlp([obs_dim, *hid, bounded(self, act_space, encoder)], act)

    def deterministic(self, obs: torch.Tensor) -> torch.Tensor:
        return self.center + self.scale * torch.tanh(run_mlp(self.net, self.features(obs)))

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.deterministic(obs)


class QEnsemble(Encoded):
    """n Q-functions Q_k(s, a) evaluated in one pass: each hidden layer is one batched matmul
    over the n members (weights [n, in, out]) instead of n separate layers, and the one-unit
    output layer a batched multiply-and-sum. Returns [n, B].

    Each member is initialised like nn.Linear (uniform in +-1/sqrt(fan_in)), independently.
    With an ``encoder`` (images, Dict observations) the members share it: one encoder pass,
    then the n MLP heads.
    """

    def __init__(
        self,
        obs_dim: int,
        act_dim: int,
        hid=(256, 256),
        act="relu",
        n: int = 2,
        encoder: nn.Module | None = None,
    ):
        super().__init__()
        self.encoder = encoder
        sizes = [obs_dim + act_dim, *hid, 1]
        self.n = n
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        for fan_in, fan_out in itertools.pairwise(sizes):
            bound = 1.0 / math.sqrt(fan_in)
            self.weights.append(
                nn.Parameter(torch.empty(n, fan_in, fan_out).uniform_(-bound, bound))
            )
            self.biases.append(nn.Parameter(torch.empty(n, 1, fan_out).uniform_(-bound, bound)))
        # in place: every activation here follows a product's fresh output
        self.act_fn = _ACT_FN_INPLACE.get(activation(act), _ACT_FN[activation(act)])

    def forward(self, obs: torch.Tensor, act: torch.Tensor) -> torch.Tensor:
        x = torch.cat([self.features(obs), act], dim=-1).unsqueeze(0).expand(self.n, -1, -1)
        *hidden, (w_out, b_out) = zip(self.weights, self.biases, strict=True)
        for w, b in hidden:
            x = self.act_fn(torch.baddbmm(b, x, w))
        # The output layer has one unit. A batched product with a dimension of size 1 (this
        # layer's forward, and its input gradient, an outer product) is ~20x slower than
        # the same work done elementwise on CPU (143 vs 24 us forward at [2, 256, 256]), a
        # tenth of a whole SAC update; so multiply and sum instead.
        return (x * w_out.transpose(1, 2)).sum(-1) + b_out[..., 0]

    def member(self, obs: torch.Tensor, act: torch.Tensor, k: int = 0) -> torch.Tensor:
        """Q_k(s, a) alone, [B]: what TD3's and DDPG's actor step needs, at 1/n of the cost
        of the whole ensemble (equal to ``forward(obs, act)[k]``)."""
        x = torch.cat([self.features(obs), act], dim=-1)
        last = len(self.weights) - 1
        for i, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            x = torch.addmm(b[k], x, w[k])
            if i < last:
                x = self.act_fn(x)
        return x.squeeze(-1)


# --- Rebuilding an actor without its environment ---------------------------------------------

ACTOR_KINDS = {
    "categorical": CategoricalActor,
    "gaussian": GaussianActor,
    "squashed_gaussian": SquashedGaussianActor,
    "deterministic": DeterministicActor,
}


def actor_spec(
    actor: nn.Module, obs_dim: int, act_space: gym.Space, hid, act: str, obs_space=None
) -> dict:
    """Everything needed to rebuild ``actor`` (before loading its weights) without making its
    environment: its kind, input width, action space, layers, and its encoder with the
    observations' shape and dtype. Plain values and arrays, so a checkpoint holds it without
    pickling."""
    kind = next(k for k, cls in ACTOR_KINDS.items() if type(actor) is cls)
    if isinstance(act_space, gym.spaces.Discrete):
        space = {"n": int(act_space.n)}
    else:
        space = {"low": np.asarray(act_space.low), "high": np.asarray(act_space.high)}
    encoder = getattr(actor, "encoder", None)
    spec = {
        "kind": kind,
        "obs_dim": int(obs_dim),
        "action_space": space,
        "hid": list(hid),
        "act": act,
        "encoder": encoder.spec() if encoder is not None else None,
    }
    if obs_space is not None:
        spec["obs_shape"] = [int(n) for n in obs_space.shape]
        spec["obs_dtype"] = np.dtype(obs_space.dtype).name
    return spec


def build_actor(spec: dict) -> tuple[nn.Module, gym.Space]:
    """The actor ``actor_spec`` describes (freshly initialised) and its action space."""
    space = spec["action_space"]
    if "n" in space:
        act_space = gym.spaces.Discrete(int(space["n"]))
    else:
        low, high = (np.asarray(space[k], np.float32) for k in ("low", "high"))
        act_space = gym.spaces.Box(low, high, dtype=np.float32)
    obs_dim, hid, act = int(spec["obs_dim"]), tuple(spec["hid"]), spec["act"]
    kind, encoder = spec["kind"], build_encoder(spec.get("encoder"))
    if kind == "categorical":
        return CategoricalActor(obs_dim, act_space.n, hid, act, encoder=encoder), act_space
    if kind == "gaussian":
        return GaussianActor(obs_dim, act_space.shape[0], hid, act, encoder=encoder), act_space
    if kind == "planner":  # a model-based agent's planner (PETS)
        from spinrl.planning import PlanningPolicy

        return PlanningPolicy.from_spec(spec, act_space), act_space
    if kind in ("squashed_sde", "gaussian_sde"):  # gSDE; spinrl.sde registers its kinds
        import spinrl.sde  # noqa: F401

        if kind == "gaussian_sde":
            cls = ACTOR_KINDS[kind]
            return cls(obs_dim, act_space.shape[0], hid, act, encoder=encoder), act_space
    return ACTOR_KINDS[kind](obs_dim, act_space, hid, act, encoder=encoder), act_space


# --- Q-networks of Q-learning (DQN): one value per discrete action -------------------------


class QNetwork(Encoded):
    """Q(s, .) for a finite action set: an observation in, one value per action out. The
    policy it stands for is greedy, a(s) = argmax_a Q(s, a) (``deterministic``).

    ``obs_space`` is the observation space (or the flat input width a checkpoint's spec
    records); the trunk that reads it is an MLP over flat vectors, with ``act`` after every
    hidden layer, and the head a linear layer on the trunk's features.
    """

    def __init__(
        self,
        obs_space: gym.Space | int,
        act_space: gym.Space,
        hid=(256, 256),
        act="relu",
        encoder: nn.Module | None = None,
    ):
        super().__init__()
        self.encoder = encoder
        in_dim = features_dim(obs_space, encoder)
        if not isinstance(act_space, gym.spaces.Discrete):
            raise EnvError(f"a Q-network needs Discrete actions, got {act_space}")
        self.n_actions = int(act_space.n)
        self.trunk = hidden_trunk(in_dim, hid, act)
        self.width = hid[-1] if hid else in_dim
        self._heads()

    def _heads(self) -> None:
        self.head = nn.Linear(self.width, self.n_actions)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        """Q(s, a) for every action: [B, n_actions]."""
        x = run_mlp(self.trunk, self.features(obs))
        return nn.functional.linear(x, self.head.weight, self.head.bias)

    def deterministic(self, obs: torch.Tensor) -> torch.Tensor:
        """The greedy action argmax_a Q(s, a)."""
        return self(obs).argmax(-1)


class DuelingQNetwork(QNetwork):
    """The dueling architecture (Wang et al. 2016): the trunk's features feed two heads, a
    state value V(s) and advantages A(s, a), combined as

        Q(s, a) = V(s) + A(s, a) - mean_a' A(s, a')

    Subtracting the mean pins down the split (V + c and A - c would give the same Q
    otherwise), so V(s) is the mean of Q(s, .) over the actions."""

    def _heads(self) -> None:
        self.value = nn.Linear(self.width, 1)
        self.advantage = nn.Linear(self.width, self.n_actions)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        x = run_mlp(self.trunk, self.features(obs))
        value = nn.functional.linear(x, self.value.weight, self.value.bias)
        adv = nn.functional.linear(x, self.advantage.weight, self.advantage.bias)
        return value + adv - adv.mean(-1, keepdim=True)


ACTOR_KINDS["q_greedy"] = QNetwork
ACTOR_KINDS["q_greedy_dueling"] = DuelingQNetwork
