"""Do the defaults learn and stay learned? Final return over many seeds, not first touch.

For one algorithm and environment, trains ``--seeds`` seeds (two at a time, each in its own
process) and reports per seed: the mean AverageEpRet over the last 10 epochs, the lowest of
those 10, and the env steps at which the return first reached the threshold *and held it*
for 10 consecutive epochs. An epoch in which no episode ended (AverageEpRet is NaN) is left
out of both: it neither counts towards the mean nor breaks a streak. Extra Config fields
are given as ``--set field=value``.

    .venv/bin/python benchmarks/stability.py --algo ppo --env CartPole-v1 --seeds 10 \
        --total-steps 100000 --threshold 475 [--set clip_ratio=0.2 ...] [--out NAME]

With ``--out NAME`` the table is written to benchmarks/results/NAME.md and the per-seed
figures to benchmarks/results/NAME.json (committed, so they outlive the machine).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time
from pathlib import Path

from machine import cpu
from pool import in_order

RESULTS = Path(__file__).parent / "results"
LAST, HOLD = 10, 10


def held_at(returns: list[float], steps: list[int], threshold: float) -> int | None:
    """Env steps at the end of the first run of HOLD consecutive epochs >= threshold."""
    streak = 0
    for ret, step in zip(returns, steps, strict=True):
        if math.isnan(ret):  # no episode ended in this epoch: the streak neither grows nor ends
            continue
        streak = streak + 1 if ret >= threshold else 0
        if streak == HOLD:
            return step
    return None


def one_seed(algo: str, env: str, seed: int, total_steps: int, fields: dict) -> dict:
    import spinrl

    rows: list[dict] = []
    start = time.perf_counter()
    getattr(spinrl, algo)(
        env=env,
        seed=seed,
        total_steps=total_steps,
        verbose=False,
        callback=lambda run: rows.append(dict(run.last_row)) and False,
        **fields,
    )
    seconds = time.perf_counter() - start
    key = "AverageEpRet"
    returns = [r.get(key, float("nan")) for r in rows]
    steps = [int(r["TotalEnvInteracts"]) for r in rows]
    return {"seed": seed, "returns": returns, "steps": steps, "seconds": seconds}


def parse_set(items: list[str]) -> dict:
    from spinrl.config import parse_literal

    out = {}
    for item in items:
        name, _, value = item.partition("=")
        out[name] = parse_literal(value)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--algo", default="ppo")
    parser.add_argument("--env", default="CartPole-v1")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--total-steps", type=int, default=100_000)
    parser.add_argument("--threshold", type=float, default=475.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--set", nargs="*", default=[], metavar="FIELD=VALUE")
    parser.add_argument("--out", help="write results/OUT.md and results/OUT.json")
    args = parser.parse_args()
    fields = parse_set(args.set)
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    jobs = [(args.algo, args.env, s, args.total_steps, fields) for s in seeds]
    runs = in_order(one_seed, jobs, args.workers)
    lines = [
        f"# {args.algo} on {args.env}: {args.seeds} seeds, {args.total_steps} env steps",
        "",
        f"Machine: {cpu()}; {time.strftime('%Y-%m-%d')}. Fields beyond the defaults: "
        f"{fields or 'none'}.",
        "",
        f"| seed | mean of last {LAST} epochs | lowest of last {LAST} | "
        f"steps when >= {args.threshold:g} held {HOLD} epochs | seconds |",
        "|---|---|---|---|---|",
    ]
    good = 0
    for r in runs:
        last = [v for v in r["returns"][-LAST:] if not math.isnan(v)] or [math.nan]
        mean_last = statistics.fmean(last)
        good += mean_last >= args.threshold
        at = held_at(r["returns"], r["steps"], args.threshold)
        r.update(mean_last=mean_last, min_last=min(last), held_at=at)
        lines.append(
            f"| {r['seed']} | {mean_last:.1f} | {min(last):.1f} | "
            f"{'never' if at is None else f'{at / 1000:.0f}k'} | {r['seconds']:.1f} |"
        )
    lines += [
        "",
        f"**{good} of {len(runs)} seeds** end with a last-{LAST}-epoch mean >= {args.threshold:g}.",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / f"{args.out}.md").write_text(text)
        (RESULTS / f"{args.out}.json").write_text(json.dumps(runs) + "\n")


if __name__ == "__main__":
    main()
