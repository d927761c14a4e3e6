"""``python -m spinrl.exercises.runner ID FILE [--quick]``: import the learner's FILE and run
the checks of exercise ID, in this (separate) process.

Each check is written to stdout as one JSON line as soon as it is done; anything the learner's
code prints goes to stderr, so it cannot be mistaken for a result. A file that does not
import gives one JSON line ``{"import_error": "..."}``.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path


def import_file(path: Path):
    """The learner's file as a module; ImportError with one line saying why not."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"{path.name} is not a Python file")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except SyntaxError as e:
        message = f"{path.name} does not import: SyntaxError: {e.msg} (line {e.lineno})"
        raise ImportError(message) from None
    except BaseException as e:  # the learner's module-level code: anything may come out
        message = str(e).splitlines()[0] if str(e) else ""
        raise ImportError(f"{path.name} does not import: {type(e).__name__}: {message}") from None
    return module


def main(argv: list[str]) -> int:
    from spinrl.exercises import run_checks

    exercise_id, path, quick = argv[0], Path(argv[1]), "--quick" in argv[2:]
    results = sys.stdout
    sys.stdout = sys.stderr  # the learner's prints
    try:
        module = import_file(path)
    except ImportError as e:
        print(json.dumps({"import_error": str(e)}), file=results, flush=True)
        return 2
    for check in run_checks(exercise_id, module, quick=quick):
        print(json.dumps(check.to_dict()), file=results, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
