"""PETS: trajectory sampling (TS-1 and TS-inf member assignment, particles through an
ensemble whose members disagree, termination), and the algorithm on the shared lifecycle:
rows, a checkpoint that loads and plans, exact resume, bad input."""

import numpy as np
import pytest
import torch

from spinrl.planning import cem, member_assignment, sequence_returns

# --- Trajectory sampling ----------------------------------------------------------------------


@pytest.mark.parametrize("propagation", ["ts1", "tsinf"])
def test_every_member_moves_the_same_number_of_particles_at_every_step(propagation):
    gen = torch.Generator().manual_seed(0)
    assign = member_assignment(propagation, 4, 10, 5, horizon=6, generator=gen)
    assert assign.shape == (6, 40)
    for t in range(6):  # and each sequence's 10 particles: 2 per member
        for p in range(4):
            assert torch.bincount(assign[t, p * 10 : (p + 1) * 10], minlength=5).tolist() == [2] * 5


def test_ts_inf_keeps_a_particles_member_and_ts1_redraws_it_every_step():
    gen = torch.Generator().manual_seed(0)
    fixed = member_assignment("tsinf", 50, 20, 5, horizon=8, generator=gen)
    assert (fixed == fixed[0]).all()  # one member per particle for the whole horizon
    redrawn = member_assignment("ts1", 50, 20, 5, horizon=8, generator=gen)
    # Re-drawn, a particle keeps its member from one step to the next with probability 1/5
    # (7 step pairs x 1000 particles: the share is 0.2 +- 0.015 at 3 sigma).
    same = (redrawn[1:] == redrawn[:-1]).double().mean().item()
    assert abs(same - 0.2) < 0.02, same
    # and the assignment at different steps is not a fixed permutation of the first
    assert len({tuple(row.tolist()) for row in redrawn}) == 8


class DisagreeingMembers:
    """An ensemble of ``members`` deterministic models that agree on the dynamics (the state
    is a step counter) and disagree on the reward: member e rewards -(a - targets[e])^2.

    ``calls`` records which member moved each particle at each step."""

    def __init__(self, targets):
        self.targets = torch.as_tensor(targets, dtype=torch.float64)
        self.members = len(targets)
        self.calls = []

    def step(self, obs, action, members, generator=None):
        self.calls.append(members.clone())
        reward = -((action[:, 0] - self.targets[members]) ** 2)
        return obs + 1, reward


@pytest.mark.parametrize("propagation", ["ts1", "tsinf"])
def test_a_plans_return_is_the_mean_over_particles_of_each_particles_own_members(propagation):
    model = DisagreeingMembers([-1.0, 0.0, 0.5, 2.0])
    actions = torch.tensor([[[0.3], [-0.2], [1.0]], [[1.5], [0.0], [-1.0]]], dtype=torch.float64)
    gen = torch.Generator().manual_seed(3)
    returns = sequence_returns(
        model, torch.zeros(1, dtype=torch.float64), actions, 8, propagation, generator=gen
    )
    # Brute force: particle i of sequence p (row p * 8 + i) collects, at each step, the
    # reward of the member that moved it at that step.
    members = torch.stack(model.calls)  # [H, rows]
    expected = torch.zeros(2)
    for p in range(2):
        for i in range(8):
            for t in range(3):
                m = members[t, p * 8 + i]
                expected[p] -= (actions[p, t, 0] - model.targets[m]) ** 2 / 8
    torch.testing.assert_close(returns.float(), expected)


def test_cem_with_particles_plans_for_the_members_average_reward():
    # The particle-averaged return of action a is -mean_e (a - t_e)^2 per step, maximised at
    # a = mean(t_e) = 0.375: CEM over particles finds it, not any one member's optimum.
    targets = [-1.0, 0.0, 0.5, 2.0]
    model = DisagreeingMembers(targets)
    gen = torch.Generator().manual_seed(0)
    plan = cem(model, torch.zeros(1, dtype=torch.float64), 3, 200, 20, 6, [-3.0], [3.0],
               generator=gen, particles=8, propagation="tsinf")  # fmt: skip
    np.testing.assert_allclose(plan[:, 0].numpy(), np.mean(targets), atol=0.03)


class Walker:
    """A given model: x moves by the action, reward 1 per step while x < 1."""

    def step(self, obs, action):
        return obs + action, torch.ones(len(obs), dtype=obs.dtype)


def test_a_terminated_particle_collects_no_more_reward():
    actions = torch.full((3, 6, 1), 0.3, dtype=torch.float64)
    actions[1] = 0.0  # never reaches x >= 1
    actions[2] = 1.0  # terminates after the first step
    returns = sequence_returns(
        Walker(), torch.zeros(1, dtype=torch.float64), actions,
        termination_fn=lambda next_obs: next_obs[:, 0] >= 1.0,
    )  # fmt: skip
    # 0.3 per step: x = 0.3, 0.6, 0.9, 1.2 -> the fourth step ends it, and is counted.
    assert returns.tolist() == [4.0, 6.0, 1.0]
