"""Exercise p2.mpc: one step of model-predictive control by random shooting
(docs/theory/part2.md, spinrl.planning).

Given a model of the environment, model.step(obs [P, obs_dim], action [P, A]) ->
(next_obs [P, obs_dim], reward [P]), plan by imagining futures:

1. Candidates: P = population action sequences of H = horizon steps, each action drawn
   uniformly in the bounds: a = low + (high - low) u, u ~ U[0, 1)^A.
2. The return of sequence k, rolled out through the model from obs (s_0 = obs):

       R_k = sum_{t=0}^{H-1} gamma^t r_t,    (s_{t+1}, r_t) = model.step(s_t, a_{k,t})

   gamma = 1 (the default) is spinrl.planning's undiscounted sum.
3. Act with the first action a_{k*,0} of the best sequence, k* = argmax_k R_k. (MPC then
   observes the real next state and plans again: only the first action is ever used.)

When ``candidates`` [P, H, A] is given, use those sequences instead of drawing new ones (the
check gives you some, to compare your returns with spinrl's). The check also draws many
single actions from your sampler, and finally runs your step as the controller of the real
Pendulum-v1 with spinrl.planning.PendulumModel: it must swing the pendulum up.

Check your answer with:  spinrl exercise check p2.mpc ex_p2_mpc.py
"""

import torch


def mpc_step(
    model,
    obs: torch.Tensor,
    horizon: int,
    population: int,
    low: torch.Tensor,
    high: torch.Tensor,
    gamma: float = 1.0,
    generator: torch.Generator | None = None,
    candidates: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(the action to take [A], the returns R_k of the P sequences [P]).

    obs: [obs_dim]; low, high: [A], the action bounds; all tensors of obs's dtype.
    generator: for the random draws (torch.rand(..., generator=generator)).
    candidates: [P, H, A] sequences to use instead of drawing (then horizon and population
    are its sizes).
    """
    raise NotImplementedError
