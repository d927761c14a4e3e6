"""Exercise 2.1: what the learned value function does for TRPO (docs/algorithms/trpo.md,
docs/theory/part3.md "GAE").

TRPO weighs grad log pi(a_t|s_t) by a GAE advantage built on a learned V (eqs. 3.10, 3.11).
Compare TRPO with V fitted as usual (train_v_iters 80: 80 gradient steps on V per epoch) and
with V never fitted (train_v_iters 0: V keeps its random initial weights), on the same env and
budget, with five seeds each (ten runs, several minutes each; with three, the seeds' spread
can hide the effect at this budget):

    spinrl train trpo --env Hopper-v5 --train-v-iters 0 80 --seed 0 10 20 30 40 --epochs 50 \
        --exp-name ex21
    spinrl plot data/ex21_trainviters0 data/ex21_trainviters80

Look at the curves, then fill in the three names below and run, in the same directory:

    spinrl exercise check 2.1 ex_2_1.py

The check reads your runs, decides from their final returns which setting learned better (or
that the seeds' spread hides any difference), and compares your answers with that.
"""

# Where your runs are: a glob pattern of folders, searched for run directories, relative to the
# directory you run the check in.
RUNS = "data/ex21*"

# Which setting reached the higher final average return in your runs?
# "with_v" (train_v_iters 80), "without_v" (train_v_iters 0), or "no_difference" (the gap is
# within the spread of the seeds).
BETTER = None

# Why? One letter:
# "a": never fitted, V is a fixed random function of s. GAE subtracts it as a baseline and
#      bootstraps from it, so the advantages carry its error: no variance reduction from the
#      baseline, and a bias from the wrong V(s_{t+1}). The policy follows noisier, biased steps.
# "b": with V unfitted, the KL constraint of TRPO no longer applies, so its steps are too large.
# "c": train_v_iters only changes how long an epoch takes; the policy's update is the same.
WHY = None
