"""MkDocs hooks that keep the docs tied to the code they describe.

- Reference pages (one per module, rendered by mkdocstrings) and test pages (the source of
  every test, one heading per test) are generated at build time, so they cannot go stale.
- In a page, three short forms are expanded, and a broken one fails the build:
    [[code:spinrl.returns.gae]]                   link to the function's reference entry
    [[test:test_policies.py::test_eglp_...]]       link to the test, checked to exist
    {{ config_table("ppo") }}                      the algorithm's Config fields and defaults
    {{ benchmark("ppo_speed.md") }}                a table from benchmarks/results/
- benchmarks/results/*.png are copied in as results/img/*.png.
"""

from __future__ import annotations

import ast
import dataclasses
import posixpath
import re
from pathlib import Path

from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File

ROOT = Path(__file__).resolve().parent.parent
MODULES = (  # one per line, so that branches adding modules merge cleanly
    "returns",
    "policies",
    "encoders",
    "sde",
    "tabular",
    "models",
    "planning",
    "envs",
    "buffers",
    "rollout",
    "run",
    "onpolicy",
    "offpolicy",
    "checkpoint",
    "logger",
    "grid",
    "plot",
    "evaluate",
    "variance",
    "config",
    "presets",
    "errors",
    "optim",
    "algos.pg",
    "algos.vpg",
    "algos.ppo",
    "algos.trpo",
    "algos.ddpg",
    "algos.td3",
    "algos.sac",
    "algos.dqn",
    "prioritized",
    "qreplay",
    "exercises",
    "exercises.checks",
    "exercises.runner",
    "exercises.part1",
    "exercises.part2",
    "exercises.part3",
    "exercises.algorithms",
    "exercises.failures",
    "algos.pets",
    "algos.mbpo",
)
CODE = re.compile(r"\[\[code:([\w.]+)\]\]")
TEST = re.compile(r"\[\[test:([\w.]+)::(\w+)\]\]")
CONFIG = re.compile(r"\{\{ config_table\(\"(\w+)\"\) \}\}")
BENCH = re.compile(r"\{\{ benchmark\(\"([\w.]+)\"\) \}\}")


def _tests(path: Path) -> dict[str, str]:
    """{test name: source} for the top-level test functions of a test file."""
    text = path.read_text()
    out = {}
    for node in ast.parse(text).body:
        if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
            start = min([d.lineno for d in node.decorator_list] + [node.lineno])
            out[node.name] = "\n".join(text.splitlines()[start - 1 : node.end_lineno])
    return out


def _test_page(path: Path) -> str:
    doc = ast.get_docstring(ast.parse(path.read_text())) or ""
    parts = [f"# tests/{path.name}", "", doc, ""]
    for name, source in _tests(path).items():
        parts += [f"## {name}", "", "```python", source, "```", ""]
    return "\n".join(parts)


def on_files(files, config):
    for module in MODULES:
        options = "    options:\n      show_root_heading: false\n"
        content = f"# spinrl.{module}\n\n::: spinrl.{module}\n{options}"
        files.append(File.generated(config, f"reference/{module}.md", content=content))
    for path in sorted((ROOT / "tests").glob("test_*.py")):
        files.append(File.generated(config, f"tests/{path.stem}.md", content=_test_page(path)))
    for png in sorted((ROOT / "benchmarks" / "results").glob("*.png")):
        files.append(File.generated(config, f"results/img/{png.name}", abs_src_path=str(png)))
    return files


def _relative(page, target: str) -> str:
    return posixpath.relpath(target, posixpath.dirname(page.file.src_uri) or ".")


def _config_table(algo: str) -> str:
    from spinrl.algos import ALGOS
    from spinrl.config import field_docs

    if algo not in ALGOS:
        raise PluginError(f"config_table: unknown algorithm {algo!r}")
    cls = ALGOS[algo].Config
    docs = field_docs(cls)
    rows = ["| field | CLI | default | meaning |", "|---|---|---|---|"]
    for f in dataclasses.fields(cls):
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        text = docs.get(f.name, "").replace("|", "\\|")
        flag = "--" + f.name.replace("_", "-")
        rows.append(f"| `{f.name}` | `{flag}` | `{default!r}` | {text} |")
    return "\n".join(rows)


def _benchmark(name: str, page) -> str:
    path = ROOT / "benchmarks" / "results" / name
    if not path.exists():
        raise PluginError(f"benchmark: no file benchmarks/results/{name}")
    lines = path.read_text().splitlines()
    # Drop the title; the file's sections become subsections of the section that embeds it.
    lines = ["##" + line if line.startswith("## ") else line for line in lines[1:]]
    text = "\n".join(lines)
    return re.sub(
        r"!\[([^\]]*)\]\(([\w.-]+\.png)\)",
        lambda m: f"![{m[1]}]({_relative(page, 'results/img/' + m[2])})",
        text,
    )


def on_page_markdown(markdown, page, config, files):
    def code(m):
        name = m[1]
        short = name.removeprefix("spinrl.")
        return f"[`{short}`][{name}]"

    def test(m):
        file, name = m[1], m[2]
        path = ROOT / "tests" / file
        if not path.exists() or name not in _tests(path):
            raise PluginError(f"{page.file.src_uri}: no test {name} in tests/{file}")
        target = _relative(page, f"tests/{Path(file).stem}.md")
        return f"[`{name}`]({target}#{name})"

    markdown = CODE.sub(code, markdown)
    markdown = TEST.sub(test, markdown)
    markdown = CONFIG.sub(lambda m: _config_table(m[1]), markdown)
    return BENCH.sub(lambda m: _benchmark(m[1], page), markdown)
