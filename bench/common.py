"""What every bench script shares: the repository's folders, the data root's one
default, the shipped models, and how a path is written into a record.

The bench scripts are run as scripts (``python bench/speed.py``): Python puts the
script's own folder first on ``sys.path``, so a script imports its siblings by their
plain names (``import common``, ``import measure``); the tests see the same folder
through pytest's ``pythonpath`` (pyproject.toml). ``gan`` itself is imported as the
installed package. bench/README.md explains the choice.

Records are committed, so every path in them is written relative to the repository
(``bench/runs/quality/infogan_s1``, ``../shared/data/mnist``): they read the same on
any machine, and a command in a record can be rerun from the repository root.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import sys
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"
RUNS = REPO / "bench" / "runs"
# The one default of the data root: the MNIST IDX files in a `shared` folder beside the
# repository (the layout CI and the tests use); every script takes --data-root.
DATA_ROOT = REPO.parent / "shared" / "data" / "mnist"
# The twin: ClusterGAN's official loop in plain PyTorch, a script beside the engine.
TWIN = REPO / "bench" / "reference" / "clustergan_official.py"
# The five shipped models of the speed benchmarks (specs/<name>.toml).
MODELS = ("bigan", "clustergan", "infogan", "aae", "cgan")


def add_data_root(parser: argparse.ArgumentParser) -> None:
    """``--data-root`` (alias ``--data``): the MNIST IDX folder, default DATA_ROOT."""
    parser.add_argument(
        "--data-root",
        "--data",
        dest="data_root",
        type=Path,
        default=DATA_ROOT,
        help=f"folder of the MNIST IDX files (default: {recorded(DATA_ROOT)})",
    )


def command_line(program: str, argv: list[str] | None) -> str:
    """The command a record names: ``program`` and its arguments (``sys.argv`` when
    ``argv`` is None), each path among them as ``recorded`` writes it."""
    args = sys.argv[1:] if argv is None else argv
    return " ".join([program, *(recorded(a) if a.startswith("/") else a for a in args)])


def recorded(path: str | os.PathLike[str]) -> str:
    """``path`` as a record writes it: relative to the repository when it lies inside
    the repository or beside it (``../shared/...``), as given otherwise (a folder the
    user chose elsewhere, e.g. a temporary one, is kept as the user wrote it)."""
    p = Path(path)
    if not p.is_absolute():
        return str(p)
    p = p.resolve()
    if p.is_relative_to(REPO.parent):
        return os.path.relpath(p, REPO)
    return str(p)


# Absolute paths that records written before paths were made relative carry, each
# with the repository-relative form that replaces it. A checkout may sit anywhere (a
# worktree, a snapshot, a folder made importable as `gan`), so a checkout is known
# by what lies inside it, not by where it was.
_ABSOLUTE = [
    # a checkout's bench/ folder: runs, the reference clone, the results
    (re.compile(r"(?<![\w.])/(?:[\w.+-]+/)*?bench/(?=(?:runs|reference|results)/)"), "bench/"),
    # the repository made importable under the name gan (…/gan/plugins/bigan.py)
    (re.compile(r"(?<![\w.])/(?:[\w.+-]+/)*?gan/(?=(?:plugins|core|training|components)/)"), ""),
    # the shared data folder beside the checkout
    (re.compile(r"(?<![\w.])/(?:[\w.+-]+/)*?shared/data/"), "../shared/data/"),
]


def relative_text(text: str) -> str:
    """``text`` with the absolute paths of a checkout and of the shared data folder
    rewritten relative to the repository (see _ABSOLUTE)."""
    for pattern, replacement in _ABSOLUTE:
        text = pattern.sub(replacement, text)
    return text


def relative_record(value: object) -> object:
    """A record (JSON-like: dicts, lists, strings, numbers) with relative_text applied
    to every string, keys included."""
    if isinstance(value, str):
        return relative_text(value)
    if isinstance(value, dict):
        return {relative_text(k): relative_record(v) for k, v in value.items()}
    if isinstance(value, list):
        return [relative_record(v) for v in value]
    return value


def load_twin() -> ModuleType:
    """The twin (:data:`TWIN`) as a module: a script outside every package, loaded from
    its file so that its networks, steps and scoring can be called directly."""
    spec = importlib.util.spec_from_file_location("clustergan_official", TWIN)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
