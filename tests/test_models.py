"""The probabilistic ensemble dynamics model: the Gaussian and Bernoulli NLLs and their
gradients against the closed form, the batched ensemble against separate networks, a fit that
recovers a known linear system and its noise, a rollout over a horizon against step after
step, and a termination head that recovers a known termination rule."""

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from spinrl.models import GaussianEnsemble, bernoulli_nll, gaussian_nll
from spinrl.planning import member_assignment


def test_gaussian_nll_and_its_gradient_against_the_closed_form():
    torch.manual_seed(0)
    mean = torch.randn(7, 3, dtype=torch.float64, requires_grad=True)
    log_var = torch.randn(7, 3, dtype=torch.float64, requires_grad=True)
    target = torch.randn(7, 3, dtype=torch.float64)
    loss = gaussian_nll(mean, log_var, target)
    std = torch.exp(0.5 * log_var)
    expected = -torch.distributions.Normal(mean, std).log_prob(target).mean()
    torch.testing.assert_close(loss, expected)
    loss.backward()
    var, n = torch.exp(log_var.detach()), mean.numel()
    diff = mean.detach() - target
    torch.testing.assert_close(mean.grad, diff / var / n)  # d/dmean = (mean - y) / var
    torch.testing.assert_close(log_var.grad, 0.5 * (1 - diff.square() / var) / n)


def test_each_member_is_the_mlp_its_weights_describe():
    torch.manual_seed(1)
    model = GaussianEnsemble(3, 2, members=4, hid=(16, 8), act="silu")
    x = torch.randn(4, 5, 5)
    mean, log_var = model(x)
    for e in range(4):
        layers = []
        for i, (w, b) in enumerate(zip(model.weights, model.biases, strict=True)):
            linear = nn.Linear(w.shape[1], w.shape[2])
            linear.weight.data, linear.bias.data = w[e].T.detach(), b[e, 0].detach()
            layers += [linear] + ([nn.SiLU()] if i < len(model.weights) - 1 else [])
        out_mean, raw = nn.Sequential(*layers)(x[e]).chunk(2, -1)
        hi, lo = model.max_log_var, model.min_log_var
        bounded = lo + F.softplus(hi - F.softplus(hi - raw) - lo)
        torch.testing.assert_close(mean[e], out_mean)
        torch.testing.assert_close(log_var[e], bounded)


def test_a_fit_recovers_a_known_linear_system_and_its_noise():
    rng = np.random.default_rng(0)
    a_mat = np.array([[0.9, 0.2], [-0.1, 0.8]])
    b_mat, c_vec, noise = np.array([[0.5], [-0.3]]), np.array([1.0, -2.0]), 0.05
    obs = rng.uniform(-1, 1, (3000, 2))
    act = rng.uniform(-1, 1, (3000, 1))
    next_obs = obs @ a_mat.T + act @ b_mat.T + noise * rng.standard_normal((3000, 2))
    rewards = obs @ c_vec
    torch.manual_seed(0)
    model = GaussianEnsemble(2, 1, members=3, hid=(64, 64))
    model.fit(obs, act, next_obs, rewards, epochs=60, rng=rng)
    test_obs, test_act = rng.uniform(-0.8, 0.8, (200, 2)), rng.uniform(-0.8, 0.8, (200, 1))
    mean, var = model.predict(torch.as_tensor(test_obs), torch.as_tensor(test_act))
    truth = test_obs @ a_mat.T + test_act @ b_mat.T
    members_mean = mean.mean(0).numpy()
    assert np.abs(members_mean[:, :2] - truth).max() < 0.05
    assert np.abs(members_mean[:, 2] - test_obs @ c_vec).max() < 0.05
    predicted_std = var.mean(0)[:, :2].sqrt().mean().item()  # the learned aleatoric noise
    assert 0.5 * noise < predicted_std < 2 * noise, predicted_std
    members, _ = model.step(
        torch.as_tensor(test_obs), torch.as_tensor(test_act), torch.zeros(200, dtype=torch.long)
    )
    assert np.abs(members.numpy() - truth).std() < 3 * noise  # a sample, noise and all


@pytest.mark.parametrize("balanced", [True, False])
def test_a_step_grouped_by_member_equals_each_row_through_its_own_member(balanced):
    # step() batches each member's own rows (padding the members with fewer); it must give
    # what running every member on every row and keeping each row's member gives, noise
    # included.
    torch.manual_seed(2)
    model = GaussianEnsemble(3, 1, members=5, hid=(16, 16))
    model.set_normalizers(torch.randn(50, 4), torch.randn(50, 4))
    obs, actions = torch.randn(20, 3), torch.randn(20, 1)
    members = torch.randperm(20) % 5 if balanced else torch.tensor([3] * 9 + [0] * 11)
    next_obs, reward = model.step(obs, actions, members, torch.Generator().manual_seed(1))
    mean, var = model.predict(obs, actions)
    rows = torch.arange(20)
    noise = torch.randn(20, 4, generator=torch.Generator().manual_seed(1))
    expected = mean[members, rows] + var[members, rows].sqrt() * noise
    torch.testing.assert_close(next_obs, expected[:, :3], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(reward, expected[:, 3], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("head", [False, True])
@pytest.mark.parametrize("propagation", ["ts1", "tsinf"])
def test_a_rollout_moves_each_row_by_its_own_member_step_after_step(propagation, head):
    # rollout() runs a horizon grouped by member with the normalisation folded into the
    # weights; brute force: every member predicts every row (predict), each row keeps its
    # member's Gaussian and draws the noise rollout documents (all steps' Gaussian noise
    # first, then the termination uniforms), step after step.
    torch.manual_seed(4)
    model = GaussianEnsemble(3, 1, members=4, hid=(16, 16), termination_head=head)
    model.set_normalizers(torch.randn(50, 4) * 2 + 1, torch.randn(50, 4) * 3 - 1)
    with torch.no_grad():  # log variances near both bounds, so that both soft bounds act
        model.max_log_var.copy_(torch.tensor([0.3, 0.0, -0.2, 0.1]))
        model.min_log_var.copy_(torch.tensor([-0.4, -0.5, -0.6, -0.3]))
    horizon, rows = 5, 12
    members = member_assignment(propagation, 3, 4, 4, horizon, torch.Generator().manual_seed(0))
    obs, actions = torch.randn(rows, 3), torch.randn(horizon, rows, 1)
    next_obs, reward, ended = model.rollout(obs, actions, members,
                                            torch.Generator().manual_seed(1))  # fmt: skip
    gen = torch.Generator().manual_seed(1)
    noise = torch.randn(horizon, rows, 4, generator=gen)
    uniform = torch.rand(horizon, rows, generator=gen)
    state, index = obs, torch.arange(rows)
    for t in range(horizon):
        mean, var, *p_end = model.predict(state, actions[t])
        sample = mean[members[t], index] + var[members[t], index].sqrt() * noise[t]
        torch.testing.assert_close(next_obs[t], sample[:, :3], rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(reward[t], sample[:, 3], rtol=1e-5, atol=1e-5)
        if head:
            torch.testing.assert_close(ended[t], uniform[t] < p_end[0][members[t], index])
        state = sample[:, :3]
    assert (ended is not None) == head
    if head:
        assert 0 < ended.sum() < ended.numel()  # an untrained head: some rows end


def test_a_rollout_needs_the_rows_split_evenly_over_the_members():
    model = GaussianEnsemble(3, 1, members=2, hid=(8,))
    uneven = torch.tensor([[0, 0, 0, 1]])
    with pytest.raises(ValueError, match="evenly"):
        model.rollout(torch.zeros(4, 3), torch.zeros(1, 4, 1), uneven)


# --- The termination head ---------------------------------------------------------------------


def test_bernoulli_nll_and_its_gradient_against_the_closed_form():
    torch.manual_seed(3)
    logit = torch.randn(6, 4, dtype=torch.float64, requires_grad=True)
    target = (torch.rand(6, 4) < 0.3).double()
    loss = bernoulli_nll(logit, target)
    p = 1 / (1 + torch.exp(-logit.detach()))
    expected = -(target * torch.log(p) + (1 - target) * torch.log(1 - p)).mean()
    torch.testing.assert_close(loss, expected)
    loss.backward()
    torch.testing.assert_close(logit.grad, (p - target) / logit.numel())  # d/dlogit = p - t


def test_the_head_leaves_the_gaussian_outputs_and_adds_one_logit_per_member():
    # Built from the same seed, the head's ensemble draws one more output column in the last
    # layer only; its Gaussian part is computed as the headless one's.
    torch.manual_seed(4)
    plain = GaussianEnsemble(2, 1, members=3, hid=(8,))
    torch.manual_seed(4)
    head = GaussianEnsemble(2, 1, members=3, hid=(8,), termination_head=True)
    assert head.weights[-1].shape[-1] == plain.weights[-1].shape[-1] + 1
    with torch.no_grad():
        head.weights[-1][..., :-1].copy_(plain.weights[-1])
        head.biases[-1][..., :-1].copy_(plain.biases[-1])
    x = torch.randn(3, 5, 3)
    for a, b in zip(plain(x), head(x), strict=True):
        torch.testing.assert_close(a, b)
    assert head.heads(x)[2].shape == (3, 5) and plain.heads(x)[2] is None
    with pytest.raises(ValueError, match="terminated flags"):
        head.fit(np.zeros((4, 2)), np.zeros((4, 1)), np.zeros((4, 2)), np.zeros(4))


def test_the_termination_head_recovers_a_known_termination_rule():
    # x' = x + 0.5 a (observed with noise 0.05); the transition terminates iff |x'[0]| > 1.
    # On held-out data the head's p > 0.5 must beat 95% accuracy, which predicting the
    # majority class for every transition (about two thirds do not terminate) cannot reach.
    rng = np.random.default_rng(5)
    obs, act = rng.uniform(-1.5, 1.5, (4000, 2)), rng.uniform(-1, 1, (4000, 1))
    moved = obs + 0.5 * np.concatenate([act, act], -1)
    terminated = (np.abs(moved[:, 0]) > 1).astype(np.float32)
    next_obs = moved + 0.05 * rng.standard_normal(moved.shape)
    train, test = slice(0, 3000), slice(3000, None)
    torch.manual_seed(5)
    model = GaussianEnsemble(2, 1, members=2, hid=(64, 64), termination_head=True)
    model.fit(obs[train], act[train], next_obs[train], np.zeros(3000),
              terminated=terminated[train], epochs=40, batch_size=128, patience=10,
              rng=rng)  # fmt: skip
    _, _, p_end = model.predict(torch.as_tensor(obs[test]), torch.as_tensor(act[test]))
    truth = terminated[test].astype(bool)
    majority = max(truth.mean(), 1 - truth.mean())
    for e in range(2):  # every member learned the rule
        accuracy = ((p_end[e] > 0.5).numpy() == truth).mean()
        assert accuracy > 0.95 > majority + 0.2, (accuracy, majority)
    # step samples each row's flag from its member's probability: over many draws of one
    # clear-cut state the share that ends is that probability
    rows = 2000
    state = torch.tensor([[0.9, 0.0]]).expand(rows, 2)
    push = torch.ones(rows, 1)  # next x[0] = 1.4: terminates
    *_, ended = model.step(state, push, torch.arange(rows) % 2, torch.Generator().manual_seed(0))
    assert ended.float().mean() > 0.9


def test_a_step_samples_each_rows_termination_from_its_own_member():
    # After the Gaussian noise, step draws one uniform per row from the same generator and
    # ends the row where it falls below that row's member's probability.
    torch.manual_seed(6)
    model = GaussianEnsemble(3, 1, members=4, hid=(16,), termination_head=True)
    obs, actions = torch.randn(30, 3), torch.randn(30, 1)
    members = torch.tensor([2] * 13 + [0] * 10 + [3] * 7)
    *_, ended = model.step(obs, actions, members, torch.Generator().manual_seed(7))
    _, _, p_end = model.predict(obs, actions)
    gen = torch.Generator().manual_seed(7)
    torch.randn(30, 4, generator=gen)  # the Gaussian noise comes first
    uniform = torch.rand(30, generator=gen)
    torch.testing.assert_close(ended, uniform < p_end[members, torch.arange(30)])
    assert 0 < ended.sum() < 30  # an untrained head: some rows end, some do not
