"""Regenerate docs/results/variance.md and its plots from `spinrl variance`'s measure functions.

    .venv/bin/python docs/scripts/variance_results.py

Three settings: FrozenLake-v1 and the hand-built 3-state MDP (exact gradient: bias, variance,
MSE, cosine) and CartPole-v1 with a random network policy (no exact gradient: variance and
cosine to a large-batch reference). Takes about two minutes on two cores.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from spinrl import variance

DOCS = Path(__file__).resolve().parent.parent
OUT = DOCS / "results" / "variance"

SETTINGS = [
    ("frozenlake", "FrozenLake-v1", dict(gamma=0.95, policy="random", seed=0)),
    ("three_state", "three_state", dict(gamma=0.9, policy="random", seed=0)),
]


def full_table(rows, exact: bool) -> str:
    if exact:
        head = ["| estimator | B | bias | noise floor | variance | MSE | cosine |"]
        head.append("|---|---|---|---|---|---|---|")
    else:
        head = ["| estimator | B | variance | cosine to reference |", "|---|---|---|---|"]
    lines = head
    for r in rows:
        if exact:
            flag = " *" if r.bias > r.noise_floor else ""
            lines.append(
                f"| {r.estimator} | {r.batch_size} | {r.bias:.3g}{flag} | {r.noise_floor:.3g} "
                f"| {r.variance:.3g} | {r.mse:.3g} | {r.cosine:.3f} |"
            )
        else:
            lines.append(f"| {r.estimator} | {r.batch_size} | {r.variance:.3g} | {r.cosine:.3f} |")
    return "\n".join(lines)


def table(rows, exact: bool) -> str:
    """One row per estimator: variance at each batch size, the cosine at the largest, and (with
    an exact gradient) whether the bias stayed under its noise floor at every batch size; the
    full table in a collapsed block below it."""
    names = list(dict.fromkeys(r.estimator for r in rows))
    sizes = sorted({r.batch_size for r in rows})
    by = {(r.estimator, r.batch_size): r for r in rows}
    big = sizes[-1]
    cos = "cosine" if exact else "cosine to reference"
    cols = [*(f"B = {b}" for b in sizes), f"{cos} (B = {big})"]
    if exact:
        cols.append("bias <= floor")
    lines = [
        f"Variance (trace of the covariance) at each batch size B, {cos} at B = {big}"
        + (
            ", and at how many batch sizes the bias stayed under its noise floor:" if exact else ":"
        ),
        "",
        "| estimator | " + " | ".join(cols) + " |",
        "|---" * (len(cols) + 1) + "|",
    ]
    for name in names:
        cells = [f"{by[name, b].variance:.3g}" for b in sizes] + [f"{by[name, big].cosine:.3f}"]
        if exact:
            under = sum(by[name, b].bias <= by[name, b].noise_floor for b in sizes)
            cells.append(f"{under} of {len(sizes)}")
        lines.append(f"| `{name}` | " + " | ".join(cells) + " |")
    full = full_table(rows, exact).replace("\n", "\n    ")
    return "\n".join(lines) + f'\n\n??? note "Every number"\n\n    {full}\n'


def images(name: str) -> str:
    return (
        f"![variance against batch size](variance/{name}/variance_vs_batch.png)\n\n"
        f"![GAE: bias and variance against lambda](variance/{name}/gae_lambda.png)"
    )


def main() -> None:
    sections = {}
    for name, env, opts in SETTINGS:
        start = time.time()
        rows, raw = variance.measure(env, **opts)
        variance.write_report(rows, OUT / name, f"{env}, random softmax policy")
        (OUT / name / "variance.csv").unlink()
        sections[name] = (table(rows, True), images(name), time.time() - start, raw)
    start = time.time()
    rows, info = variance.measure_sampled("CartPole-v1", policy="random", seed=0)
    variance.write_report(rows, OUT / "cartpole", "CartPole-v1, random network policy")
    (OUT / "cartpole" / "variance.csv").unlink()
    cp = (table(rows, False), images("cartpole"), time.time() - start, info)
    template = (DOCS / "scripts" / "variance_template.md").read_text()
    fl, ts = sections["frozenlake"], sections["three_state"]
    values = dict(
        frozenlake_table=fl[0],
        frozenlake_images=fl[1],
        frozenlake_states=fl[3]["mdp"].n_states,
        three_state_table=ts[0],
        three_state_images=ts[1],
        three_state_exact=np.array2string(ts[3]["exact"], precision=4),
        cartpole_table=cp[0],
        cartpole_images=cp[1],
        cartpole_se=f"{cp[3]['reference_relative_se']:.3f}",
        cartpole_len=f"{cp[3]['mean_episode_length']:.1f}",
        seconds=f"{fl[2] + ts[2] + cp[2]:.0f}",
    )
    text = template  # str.replace, not format: the LaTeX in the template is full of braces
    for key, value in values.items():
        text = text.replace("{" + key + "}", str(value))
    (DOCS / "results" / "variance.md").write_text(text)
    print(f"wrote {DOCS / 'results' / 'variance.md'}")


if __name__ == "__main__":
    main()
