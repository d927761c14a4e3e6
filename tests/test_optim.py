"""FlatAdam: the same updates as torch.optim.Adam, with every parameter in one buffer."""

import copy

import pytest
import torch

from spinrl.optim import FlatAdam
from spinrl.policies import GaussianActor, VCritic


def _nets(seed=0):
    torch.manual_seed(seed)
    return GaussianActor(5, 2, (16, 16), "tanh"), VCritic(5, (16, 16), "tanh")


def _params(actor, critic):
    return [*actor.parameters(), *critic.parameters()]


def _loss(actor, critic, obs, act):
    return -actor.log_prob(obs, act).mean() + (critic(obs) ** 2).mean()


def _train(opt, actor, critic, obs, act, steps):
    for _ in range(steps):
        opt.zero_grad()
        _loss(actor, critic, obs, act).backward()
        opt.step()


def _copy_loading(actor, critic, state):
    """Copies of the networks and a FlatAdam over them (lr 0.5) that loads ``state``."""
    a, c = copy.deepcopy(actor), copy.deepcopy(critic)
    opt = FlatAdam([{"params": a.parameters(), "lr": 0.5}, {"params": c.parameters(), "lr": 0.5}])
    opt.load_state_dict(state)
    return a, c, opt


def test_flat_adam_matches_torch_adam_with_clipping_and_a_learning_rate_change():
    a1, c1 = _nets()
    a2, c2 = copy.deepcopy(a1), copy.deepcopy(c1)
    ref = torch.optim.Adam(
        [{"params": a1.parameters(), "lr": 3e-3}, {"params": c1.parameters(), "lr": 1e-2}],
        eps=1e-5,
    )
    flat = FlatAdam(
        [{"params": a2.parameters(), "lr": 3e-3}, {"params": c2.parameters(), "lr": 1e-2}],
        eps=1e-5,
    )
    gen = torch.Generator().manual_seed(1)
    for i in range(40):
        obs, act = torch.randn(32, 5, generator=gen), torch.randn(32, 2, generator=gen)
        ref.zero_grad()
        _loss(a1, c1, obs, act).backward()
        norm_ref = torch.nn.utils.clip_grad_norm_([*a1.parameters(), *c1.parameters()], 0.5)
        ref.step()
        flat.zero_grad()
        _loss(a2, c2, obs, act).backward()
        norm_flat = flat.clip_grad_norm_(0.5)
        flat.step()
        assert norm_flat.item() == pytest.approx(norm_ref.item(), rel=1e-5)
        if i == 20:
            ref.param_groups[0]["lr"] = flat.param_groups[0]["lr"] = 1e-3
    for p1, p2 in zip(_params(a1, c1), _params(a2, c2), strict=True):
        torch.testing.assert_close(p1, p2, rtol=1e-5, atol=1e-6)
    # The parameters and their gradients still live in the flat buffers.
    for p in a2.parameters():
        assert p.untyped_storage().data_ptr() == flat.flat.untyped_storage().data_ptr()
        assert p.grad.untyped_storage().data_ptr() == flat.flat_grad.untyped_storage().data_ptr()


def test_state_dict_round_trip_continues_identically():
    a1, c1 = _nets()
    groups = [{"params": a1.parameters(), "lr": 1e-2}, {"params": c1.parameters(), "lr": 1e-2}]
    opt = FlatAdam(groups)
    obs, act = torch.randn(16, 5), torch.randn(16, 2)
    _train(opt, a1, c1, obs, act, 5)
    a2, c2, opt2 = _copy_loading(a1, c1, opt.state_dict())
    assert [g["lr"] for g in opt2.param_groups] == [1e-2, 1e-2]
    for o, a, c in ((opt, a1, c1), (opt2, a2, c2)):
        _train(o, a, c, obs, act, 3)
    for p1, p2 in zip(_params(a1, c1), _params(a2, c2), strict=True):
        assert torch.equal(p1, p2)
    wrong = FlatAdam([{"params": torch.nn.Linear(2, 2).parameters(), "lr": 1.0}])
    with pytest.raises(ValueError, match="does not fit"):
        wrong.load_state_dict(opt.state_dict())


def test_a_torch_adam_state_loads_and_continues_as_torch_adam_would():
    # Checkpoints written while the off-policy agents used torch.optim.Adam resume with
    # FlatAdam: 10 steps of torch Adam, its state moved over, then 10 more steps each way.
    a1, c1 = _nets()
    ref = torch.optim.Adam(
        [{"params": a1.parameters(), "lr": 3e-3}, {"params": c1.parameters(), "lr": 1e-2}]
    )
    obs, act = torch.randn(16, 5), torch.randn(16, 2)
    _train(ref, a1, c1, obs, act, 10)
    a2, c2, flat = _copy_loading(a1, c1, ref.state_dict())
    assert [g["lr"] for g in flat.param_groups] == [3e-3, 1e-2]
    _train(ref, a1, c1, obs, act, 10)
    _train(flat, a2, c2, obs, act, 10)
    for p1, p2 in zip(_params(a1, c1), _params(a2, c2), strict=True):
        torch.testing.assert_close(p1, p2, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="does not fit"):
        FlatAdam([{"params": a2.parameters(), "lr": 1.0}]).load_state_dict(ref.state_dict())


def test_stepping_one_group_leaves_the_other_exactly_as_it_was():
    torch.manual_seed(0)
    a, b = torch.nn.Linear(3, 2), torch.nn.Linear(2, 1)
    opt = FlatAdam([{"params": a.parameters(), "lr": 0.1}, {"params": b.parameters(), "lr": 0.1}])
    for _ in range(2):  # moments of both groups are non-zero before the partial step
        opt.zero_grad()
        b(a(torch.randn(4, 3))).sum().backward()
        opt.step()
    a_before = [p.detach().clone() for p in a.parameters()]
    state_before = opt.state_dict()
    opt.zero_grad()
    b(a(torch.randn(4, 3))).sum().backward()
    opt.step(groups=(1,))
    assert all(torch.equal(x, y) for x, y in zip(a_before, a.parameters(), strict=True))
    state = opt.state_dict()
    s0 = opt.param_groups[0]["slice"]
    assert torch.equal(state["exp_avg"][s0], state_before["exp_avg"][s0])
    assert state["step"][0] == state_before["step"][0] and state["step"][1] == 3


def _subnormals(t: torch.Tensor) -> int:
    a = t.abs()
    return int(((a > 0) & (a < torch.finfo(t.dtype).tiny)).sum())


def test_flat_adam_flushes_subnormal_moments_without_changing_a_parameter():
    # Gradients for 20 steps, then exactly zero for 900 (a unit gone dead): the first moment
    # decays by 0.9 a step through the subnormal range. torch's Adam keeps those subnormals;
    # FlatAdam flushes them to zero, and every parameter stays bit for bit the same. The
    # flag is the calling thread's, and spinrl trains on one thread: so does this test.
    if not torch.set_flush_denormal(False):
        pytest.skip("this CPU has no flush-to-zero mode for torch to set")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        _dead_unit_run()
    finally:
        torch.set_num_threads(threads)


def _dead_unit_run():
    gen = torch.Generator().manual_seed(0)
    start = torch.randn(300, generator=gen)
    p_ref, p_flat = torch.nn.Parameter(start.clone()), torch.nn.Parameter(start.clone())
    ref = torch.optim.Adam([p_ref], lr=3e-4, fused=True)
    flat = FlatAdam([{"params": [p_flat], "lr": 3e-4}])
    subnormal_steps = 0
    for i in range(920):
        grad = torch.randn(300, generator=gen) if i < 20 else torch.zeros(300)
        for p, opt in ((p_ref, ref), (p_flat, flat)):
            opt.zero_grad()
            (p * grad).sum().backward()
            opt.step()
        subnormal_steps += _subnormals(ref.state[p_ref]["exp_avg"]) > 0
        assert _subnormals(flat.exp_avg) == 0
        assert torch.equal(p_ref, p_flat), f"step {i}"
    assert subnormal_steps > 100  # the case was really exercised
    # The thread's own setting is restored after each step.
    assert _subnormals(torch.tensor([1e-39]) * 1.0) == 1
