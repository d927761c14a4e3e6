"""Exercise 2.1, a solution, for runs like the ones the exercise asks for (TRPO, Hopper-v5,
train_v_iters 0 and 80, three seeds, 50 epochs of 4000 steps), where the runs with a fitted V
end far ahead; in Spinning Up's own version of this experiment (Hopper, 250 epochs) too.

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
