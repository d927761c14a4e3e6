"""One line naming the CPU a benchmark ran on, for its results table.

The same figures differ by 2-3x between the machines these benchmarks have run on (a Zen 1
EPYC with 128-bit FMA units and a Zen 4 EPYC with AVX-512 both report "AMD EPYC" as their
model name), so the line carries the family, model and widest vector extension too.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path


def cpu() -> str:
    """E.g. 'AMD EPYC, family 25 model 17, AVX-512, 2 cores' (Linux); else the architecture."""
    info = Path("/proc/cpuinfo")
    if not info.exists():
        return f"{platform.machine()}, {os.cpu_count()} cores"
    fields: dict[str, str] = {}
    for line in info.read_text().splitlines():
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    flags = set(fields.get("flags", "").split())
    vector = next((n for f, n in (("avx512f", "AVX-512"), ("avx2", "AVX2")) if f in flags), "SSE")
    return (
        f"{fields.get('model name', platform.machine())}, family {fields.get('cpu family', '?')} "
        f"model {fields.get('model', '?')}, {vector}, {os.cpu_count()} cores"
    )


def packages() -> str:
    """E.g. 'torch 2.13.0, gymnasium 1.4.0, mujoco 4.0.0, numpy 2.4.6': what a result also
    depends on (MuJoCo 4.0.0 and 3.14.0 step HalfCheetah-v5 apart by 1e-14 at first, which
    grows until the two trajectories part after about 50 steps, as a different CPU's rounding
    does; Ant-v5 already 3.5e-7 apart after one step)."""
    from importlib.metadata import PackageNotFoundError, version

    found = []
    for name in ("torch", "gymnasium", "mujoco", "numpy"):
        try:
            found.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            pass
    return ", ".join(found)


if __name__ == "__main__":
    print(cpu())
    print(packages())
