"""Exercise 2.1, a solution, for the runs the exercise asks for. Measured with spinrl
(TRPO, Hopper-v5, 50 epochs of 4000 steps, seeds 0 10 20 30 40), the final returns (mean of
the last 5 epochs) were 316, 788, 786, 521, 407 with V fitted (mean 563) and 314, 379, 212,
346, 260 without (mean 302): a gap of 261, more than twice its standard error (2 x 101). With
V never fitted every run stalls near 200-380; with it, four of five climb past 400. (With
seeds 0 10 20 alone the gap, 328, was just within twice its standard error, 2 x 164.5: three
seeds did not decide.) Spinning Up's version (Hopper, 250 epochs) finds the same: with an
untrained value function the agent gets stuck early on.

Why: TRPO's step is a natural-gradient step on the surrogate sum_t ratio_t A_t under a KL
bound. The bound holds either way (so "b" is wrong), and the step changes with A_t (so "c" is
wrong). With train_v_iters 0, V is the critic's random initialisation: A_t = sum_l
(gamma lam)^l delta_{t+l} is built from a V(s) that explains none of the return, so the
baseline removes no variance, and the bootstrapped V(s_{t+l+1}) biases it. The policy climbs a
noisier, biased estimate of the gradient, and learns slower or not at all.

Check your own runs' verdict: BETTER must match what your runs show.
"""

RUNS = "data/ex21*"
BETTER = "with_v"
WHY = "a"
