"""The probabilistic ensemble dynamics model: the Gaussian NLL and its gradient against the
closed form, the batched ensemble against separate networks, and a fit that recovers a known
linear system and its noise."""

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from spinrl.models import GaussianEnsemble, gaussian_nll


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
