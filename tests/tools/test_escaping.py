"""Names are escaped for each output: the terminal (`gan inspect`, `gan compare`),
Markdown (`gan compare --markdown`), DOT and Mermaid (`gan inspect --format`)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import tomli_w
from helpers import read_spec
from typer.testing import CliRunner

from gan.cli import app
from gan.tools import escape

runner = CliRunner()
HOSTILE = 'x\x1b[31mred\x07\x00"q"|\n| cell\u202eevil\\n'
RAW = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u202e]")  # drawn by the terminal, not shown
DOT_STRING = re.compile(r'"(?:[^"\\\x00\n]|\\.)*"')


def test_terminal_shows_every_hidden_character():
    out = escape.terminal(HOSTILE)
    assert not RAW.search(out) and "\n" not in out
    assert "\\x1b[31mred\\x07\\x00" in out and "\\u202e" in out and "\\n" in out
    assert escape.terminal("critic-1 → ×2 µ") == "critic-1 → ×2 µ"  # printable stays


def test_markdown_keeps_a_cell_one_cell():
    out = escape.markdown(HOSTILE)
    assert "\n" not in out and not RAW.search(out)
    assert out.count("|") == out.count("\\|") == 2  # every bar escaped
    assert escape.markdown("a_b*c<d>`") == "a\\_b\\*c\\<d\\>\\`"


def test_dot_is_one_quoted_string():
    out = escape.dot(HOSTILE)
    assert DOT_STRING.fullmatch(out), out
    assert "\x00" not in out and "\\x00" in out


def test_mermaid_ids_are_unique():
    names = ["critic-1", "critic_1", "critic.1", "critic_1_2", "n", ""]
    ids = escape.mermaid_ids(names)
    assert len(set(ids.values())) == len(names)
    assert all(re.fullmatch(r"[A-Za-z0-9_]+", i) for i in ids.values())
    assert ids["critic-1"] == "critic_1" and ids["n"] == "n"  # readable where it can be
    assert escape.mermaid_ids(["critic-1"]) == {"critic-1": "critic_1"}
    text = escape.mermaid_text('a"b|c#<d>\x00')
    assert not re.search(r'["|<>\x00]', text) and "#34;" in text and "#124;" in text


def _inspect(fmt: str, *sets: str) -> str:
    args = ["inspect", "bigan", "--format", fmt, "--set", "data.source=digits"]
    for s in sets:
        args += ["--set", s]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return result.output


def test_inspect_outputs_escape_names():
    """One spec with hostile phase names and description: each output stays well formed."""
    sets = ("phases.0.name=critic-1", "phases.1.name=critic_1")
    text = _inspect("text", f"description={json.dumps(HOSTILE)}", *sets)
    assert not RAW.search(text) and "\\x1b[31mred" in text
    mermaid = _inspect("mermaid", *sets)
    boxes = re.findall(r"^  (p_\w+)\{\{", mermaid, re.M)
    assert len(boxes) == 2 and len(set(boxes)) == 2, boxes  # critic-1 and critic_1: two boxes
    dot = _inspect("dot", *sets)
    assert '"p_critic-1"' in dot and '"p_critic_1"' in dot


def _run(folder: Path, name: str, acc: float) -> Path:
    spec = read_spec("bigan")
    spec["name"] = name  # a run folder's spec.toml is whatever is in it
    spec["eval"].setdefault("metrics", {})["cluster"] = {"type": "clustering", "node": "x"}
    folder.mkdir()
    (folder / "spec.toml").write_text(tomli_w.dumps(spec))
    line = {"step": 10, "time": 1.0, "split": "val", "eval/cluster/acc": acc}
    (folder / "metrics.jsonl").write_text(json.dumps(line) + "\n")
    return folder


def test_compare_markdown_table_survives_a_hostile_name(tmp_path):
    a = _run(tmp_path / "a", "plain", 0.5)
    b = _run(tmp_path / "b", "evil\n| injected | row |\x1b[2J", 0.6)
    md = runner.invoke(app, ["compare", str(a), str(b), "--markdown", "-m", "cluster/*"])
    assert md.exit_code == 0, md.output
    table = [line for line in md.output.splitlines() if line.startswith("|")]
    assert len(table) == 4, table  # header, rule, seeds, cluster/acc: no injected row
    cells = {len(re.split(r"(?<!\\)\|", line)) for line in table}
    assert cells == {5}, table  # every row: metric + two groups, no extra cell
    assert not RAW.search(md.output)
    text = runner.invoke(app, ["compare", str(a), str(b), "-m", "cluster/*"])
    assert text.exit_code == 0 and not RAW.search(text.output), text.output
