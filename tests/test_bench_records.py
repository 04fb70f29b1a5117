"""The committed bench records and bench/README.md: paths in records are relative to
the repository, and the README's generated tables are what the records say."""

from __future__ import annotations

import json
import re
from pathlib import Path

import common  # bench/common.py: bench/ is on the tests' path (pyproject.toml)
import records
import tables
from helpers import REPO

RESULTS = REPO / "bench" / "results"
# an absolute POSIX path of at least two parts, at the start of a word or a value
ABSOLUTE = re.compile(r"""(?:^|[\s"'=(`\[,])(/[\w.+-]+/[\w.+/-]*)""", re.M)


def absolute_paths(folder: Path) -> list[str]:
    found = []
    for path in sorted(folder.iterdir()):
        if path.suffix in (".json", ".jsonl", ".md"):
            found += [f"{path.name}: {m}" for m in ABSOLUTE.findall(path.read_text())]
    return found


def test_results_hold_no_absolute_path():
    assert absolute_paths(RESULTS) == []


def test_the_readme_tables_are_current():
    text = (REPO / "bench" / "README.md").read_text()
    assert tables.BEGIN in text and tables.END in text
    assert tables.render(text) == text, "stale: run python bench/tables.py"


def test_the_readme_tables_follow_the_records(tmp_path):
    """A new quality record changes the generated section (it is not frozen text)."""
    for path in RESULTS.iterdir():
        if path.suffix in (".json", ".jsonl"):
            (tmp_path / path.name).write_text(path.read_text())
    text = (REPO / "bench" / "README.md").read_text()
    store = tmp_path / "quality.json"
    rows = json.loads(store.read_text())
    bigan = next(r for r in rows if r["model"] == "BiGAN" and r.get("protocol"))
    rows.append({**bigan, "seed": 7, "value": 0.5})
    store.write_text(json.dumps(rows))
    assert "| BiGAN | 72.99% (2 seed(s)" in tables.render(text, tmp_path)


def test_a_recorded_path_is_relative_to_the_repository(tmp_path):
    assert common.recorded(REPO / "bench" / "runs" / "x") == "bench/runs/x"
    assert common.recorded(REPO.parent / "shared" / "data" / "mnist") == "../shared/data/mnist"
    assert common.recorded("specs/x.toml") == "specs/x.toml"
    outside = Path("/") / "elsewhere-not-beside-the-repo" / "x"
    assert common.recorded(outside) == str(outside)  # the user's own folder, as given


def test_old_records_absolute_paths_are_rewritten(tmp_path):
    old = {
        "command": "gan run s.toml --out /srv/ck/gan/bench/runs/quality/a_s0 "
        "--set data.root=/data/shared/data/mnist",
        "overrides": ["data.root=/x/y/shared/data/fashion-mnist"],
        "error": 'File "/opt/pkg/gan/plugins/bigan.py", line 85',
        "value": 0.5,
    }
    store = tmp_path / "trials_x.jsonl"
    store.write_text(json.dumps(old) + "\n")
    assert records.rewrite_paths(store)
    new = records.read_jsonl(store)[0]
    assert new["command"] == (
        "gan run s.toml --out bench/runs/quality/a_s0 --set data.root=../shared/data/mnist"
    )
    assert new["overrides"] == ["data.root=../shared/data/fashion-mnist"]
    assert new["error"] == 'File "plugins/bigan.py", line 85' and new["value"] == 0.5
    assert absolute_paths(tmp_path) == []
    assert not records.rewrite_paths(store)  # nothing left to rewrite
