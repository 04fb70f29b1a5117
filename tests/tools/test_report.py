"""`gan report`, `gan compare`, `gan inspect --format`, run.json — on a short digits run
and on hand-made run folders. The browser test opens the report in headless Chromium
(skipped with a reason where none is installed; CI sets GAN_REQUIRE_BROWSER=1 so that a
missing browser fails there instead)."""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import tomli_w
from helpers import read_spec
from typer.testing import CliRunner

from gan.cli import app

runner = CliRunner()


def digits_spec() -> dict:
    """BiGAN for 8 steps on digits, two cheap evaluations (at steps 4 and 8)."""
    spec = read_spec("bigan")
    spec["data"].update(source="digits", val=0.1)
    spec["train"].update(
        steps=8, batch_size=16, log_every=2, sample_every=4, checkpoint_every=4, device="cpu"
    )
    spec["train"].pop("epochs", None)
    spec["eval"] = {
        "every": 4,
        "limit": 100,
        "best": "probe/knn1_acc",
        "metrics": {
            "probe": {"type": "probe", "node": "z_enc", "train_size": 200, "logistic": False},
            "recon": {"type": "reconstruction", "node": "x_rec"},
        },
    }
    spec["sample"]["n"] = 16
    return spec


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("report")
    spec_file = folder / "bigan.toml"
    spec_file.write_text(tomli_w.dumps(digits_spec()))
    out = folder / "run"
    result = runner.invoke(app, ["run", str(spec_file), "--out", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="module")
def report_file(digits_run) -> Path:
    result = runner.invoke(app, ["report", str(digits_run)])
    assert result.exit_code == 0, result.output
    path = digits_run / "report.html"
    assert path.is_file()
    return path


def assert_clean_error(result, *needles: str) -> None:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    for needle in needles:
        assert needle in result.output, (needle, result.output)


# -- run.json -----------------------------------------------------------------------------


def test_trainer_writes_run_facts(digits_run):
    info = json.loads((digits_run / "run.json").read_text())
    (session,) = info["sessions"]
    assert session["status"] == "finished" and session["end_step"] == 8
    assert session["start_step"] == 0 and session["seconds"] > 0 and session["seed"] == 0
    assert session["versions"]["torch"] and session["machine"]["device"] == "cpu"
    assert session["command"]
    assert session["execution"]["precision"] == {"value": "fp32", "reason": "set in the spec"}
    assert session["execution"]["compile"]["value"] == "eager"


# -- the report ---------------------------------------------------------------------------

# Anything that would make the page load something: a src/href that is not data: or #,
# CSS url(), @import.
EXTERNAL = re.compile(r"""(?:src|href)\s*=\s*(?!["']?(?:data:|#))|url\((?!#|data:)|@import""", re.I)


def test_report_is_self_contained_and_complete(report_file):
    text = report_file.read_text()
    assert not EXTERNAL.search(text), EXTERNAL.search(text)
    assert "<script" not in text
    assert text.count("data:image/png;base64,") >= 2 + 2  # losses, eval, two sample grids
    for section in ('id="facts"', 'id="losses"', 'id="eval"', 'id="graph-picture"', 'id="spec"'):
        assert section in text
    svg = text[text.index("<svg") : text.index("</svg>") + 6]
    ET.fromstring(svg)  # well-formed
    for label in ("discriminator", "generator", "x_fake", "d_real", "updates"):
        assert label in svg
    assert "probe/knn1_acc" in text and "step 8" in text and "step 4" in text
    assert "finished" in text and "8 of 8" in text  # run facts
    assert 'name = "bigan"' in text  # the spec


def test_report_of_a_run_in_progress_without_eval(digits_run, tmp_path):
    run = tmp_path / "partial"
    shutil.copytree(digits_run, run)
    (run / "report.html").unlink()
    lines = (run / "metrics.jsonl").read_text().splitlines()
    train = [x for x in lines if '"eval/' not in x]
    # two complete lines and one being written
    (run / "metrics.jsonl").write_text(train[0] + "\n" + train[1] + "\n" + train[2][:20])
    (run / "run.json").unlink()
    for extra in sorted((run / "samples").glob("*.png"))[1:]:
        extra.unlink()
    result = runner.invoke(app, ["report", str(run), "--out", str(tmp_path / "r.html")])
    assert result.exit_code == 0, result.output
    text = (tmp_path / "r.html").read_text()
    assert "in progress" in text and "4 of 8" in text
    assert "No evaluation in metrics.jsonl" in text and "still being written" in text
    # one picture per loss panel (2 phases, speed) + 1 grid
    assert "<svg" in text and text.count("data:image/png;base64,") == 3 + 1


def test_report_of_a_run_with_no_eval_section(digits_run, tmp_path):
    run = tmp_path / "noeval"
    run.mkdir()
    spec = digits_spec()
    del spec["eval"]
    (run / "spec.toml").write_text(tomli_w.dumps(spec))
    records = [
        {"step": s, "time": 1.0e9 + s, "steps_per_s": 5.0, "g/loss": 1.0 / s} for s in (1, 2)
    ]
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    result = runner.invoke(app, ["report", str(run)])
    assert result.exit_code == 0, result.output
    text = (run / "report.html").read_text()
    assert "declares no metrics" in text and "No sample grid yet" in text


def test_report_bad_input_is_one_clear_message(digits_run, tmp_path):
    assert_clean_error(runner.invoke(app, ["report", str(tmp_path / "nope")]), "does not exist")
    empty = tmp_path / "empty"
    empty.mkdir()
    assert_clean_error(
        runner.invoke(app, ["report", str(empty)]), "neither spec.toml nor metrics.jsonl"
    )
    corrupt = tmp_path / "corrupt"
    shutil.copytree(digits_run, corrupt)
    lines = (corrupt / "metrics.jsonl").read_text().splitlines()
    lines[1] = "{not json"
    (corrupt / "metrics.jsonl").write_text("\n".join(lines) + "\n")
    assert_clean_error(runner.invoke(app, ["report", str(corrupt)]), "line 2", "delete")
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    out = blocker / "report.html"  # its folder is a file: cannot be written, even by root
    assert_clean_error(
        runner.invoke(app, ["report", str(digits_run), "--out", str(out)]), "Cannot write"
    )
    assert_clean_error(
        runner.invoke(app, ["report", str(digits_run), "--out", str(tmp_path)]), "is a folder"
    )


def test_graph_picture_without_graphviz_uses_grandalf(monkeypatch):
    from gan.tools import graphview

    info = bigan_info()
    monkeypatch.setattr(graphview.shutil, "which", lambda name: None)
    svg, drawn_by = graphview.to_svg(info)
    assert drawn_by == "grandalf"
    root = ET.fromstring(svg)
    assert len(root.findall("{http://www.w3.org/2000/svg}polyline")) == len(
        graphview.diagram(info).edges
    )


# -- headless Chromium ------------------------------------------------------------------------

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    return None


def need_browser():
    """Playwright driving the system Chromium, or a skip that says what is missing."""
    required = os.environ.get("GAN_REQUIRE_BROWSER") == "1"
    missing = None
    browser = find_chromium()
    if browser is None:
        missing = "no Chromium installed (apt-get install chromium)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            missing = "the playwright package is missing (pip install -e '.[dev]')"
    if missing:
        if required:
            pytest.fail(f"GAN_REQUIRE_BROWSER=1 but {missing}")
        pytest.skip(missing)
    return browser


def test_report_renders_in_headless_chromium(report_file, tmp_path):
    browser_path = need_browser()
    from PIL import Image, ImageStat
    from playwright.sync_api import sync_playwright

    console, requests = [], []
    shot = tmp_path / "report.png"
    with sync_playwright() as p:
        # Playwright gives the browser a fresh temporary profile of its own
        browser = p.chromium.launch(executable_path=browser_path, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("console", lambda m: console.append((m.type, m.text)))
            page.on("pageerror", lambda e: console.append(("pageerror", str(e))))
            page.on("request", lambda r: requests.append(r.url))
            page.goto(report_file.resolve().as_uri(), wait_until="load")
            sizes = page.evaluate(
                """() => {
                  const box = (el) => el ? el.getBoundingClientRect() : {width: 0, height: 0};
                  const losses = document.querySelector('#losses + .figure img');
                  const graph = document.querySelector('#graph-picture svg');
                  return {
                    losses: [box(losses).width, box(losses).height,
                             losses ? losses.naturalWidth : 0],
                    graph: [box(graph).width, box(graph).height],
                    images: [...document.images].map(i => i.complete && i.naturalWidth > 0),
                  };
                }"""
            )
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    assert not [m for m in console if m[0] in ("error", "pageerror")], console
    foreign = [u for u in requests if not u.startswith(("file:", "data:"))]
    assert not foreign, foreign
    assert sizes["losses"][0] > 300 and sizes["losses"][1] > 100 and sizes["losses"][2] > 0
    assert sizes["graph"][0] > 300 and sizes["graph"][1] > 100
    assert sizes["images"] and all(sizes["images"])
    image = Image.open(shot).convert("L")
    assert image.height > 1500
    assert ImageStat.Stat(image).stddev[0] > 10  # not blank


# -- gan inspect --format -------------------------------------------------------------------

_INFO: dict = {}


def bigan_info() -> dict:
    if not _INFO:
        from gan.core.resolve import resolve
        from gan.core.spec import load_spec
        from gan.tools.inspect import describe

        _INFO.update(describe(resolve(load_spec("bigan", ['data.source="digits"']))))
    return _INFO


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # pydot's use of pyparsing
@pytest.mark.parametrize("spec", ["bigan", "clustergan"])
def test_inspect_dot_parses_with_pydot(spec):
    pydot = pytest.importorskip("pydot")
    result = runner.invoke(app, ["inspect", spec, "--format", "dot"])
    assert result.exit_code == 0, result.output
    (graph,) = pydot.graph_from_dot_data(result.output)
    names = {n.get_name().strip('"') for n in graph.get_nodes()}
    assert {"n_x", "n_x_fake", "p_generator", "w_G"} <= names
    edges = {(e.get_source().strip('"'), e.get_destination().strip('"')) for e in graph.get_edges()}
    assert ("p_generator", "w_G") in edges and ("n_z", "n_x_fake") in edges
    if shutil.which("dot"):
        import subprocess

        done = subprocess.run(["dot", "-Tsvg"], input=result.output.encode(), capture_output=True)
        assert done.returncode == 0 and b"<svg" in done.stdout, done.stderr


def test_inspect_mermaid_and_bad_format():
    result = runner.invoke(app, ["inspect", "bigan", "--format", "mermaid"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "flowchart LR"
    assert "  n_z --> n_x_fake" in lines and any("-.->|updates| w_D" in x for x in lines)
    assert_clean_error(runner.invoke(app, ["inspect", "bigan", "--format", "png"]), "--format")


def test_inspect_text_collapses_repeats_and_calls():
    result = runner.invoke(
        app,
        [
            "inspect",
            "bigan",
            "--set",
            "phases.generator.simultaneous=false",  # repeat > 1 is not simultaneous
            "--set",
            "phases.discriminator.repeat=5",
        ],
    )
    assert result.exit_code == 0, result.output
    out = result.output
    assert "discriminator ×5: updates D" in out
    assert "repetition 1:" in out and "repetitions 2–5:" in out
    assert out.count("discriminator") == 1 + out.count("bigan.discriminator")
    g_block = out.split("  G: ")[1].split("\n  E: ")[0]
    assert g_block.count("→") == 1 and "×2" in g_block  # G(z), G(z_enc): one shape


# -- gan compare -----------------------------------------------------------------------------


def fake_run(
    folder: Path, seed: int, acc: float, lr: float = 2e-4, best_first=False, name="bigan"
) -> Path:
    spec = read_spec(name)
    spec["eval"].setdefault("metrics", {})["cluster"] = {"type": "clustering", "node": "x"}
    spec["train"]["seed"] = seed
    spec["phases"][0]["optimizer"]["lr"] = lr
    spec["eval"]["best"] = "cluster/acc"
    folder.mkdir(parents=True)
    (folder / "spec.toml").write_text(tomli_w.dumps(spec))
    lines = [
        {"step": 100, "time": 1.0, "steps_per_s": 10.0, "discriminator/d_real": 0.5},
        {
            "step": 100,
            "time": 2.0,
            "split": "val",
            "eval/cluster/acc": acc - 0.1 if not best_first else acc + 0.05,
            "eval/nmi": 0.1,
        },
        {"step": 200, "time": 3.0, "steps_per_s": 12.0, "discriminator/d_real": 0.4},
        {"step": 200, "time": 4.0, "split": "val", "eval/cluster/acc": acc, "eval/nmi": 0.2},
    ]
    (folder / "metrics.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    return folder


def test_compare_pools_two_seeds(tmp_path):
    a = fake_run(tmp_path / "s0", 0, 0.8)
    b = fake_run(tmp_path / "s1", 1, 0.9)
    c = fake_run(tmp_path / "lr", 0, 0.7, lr=1e-3)
    result = runner.invoke(app, ["compare", str(a), str(b), str(c), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["differences"] == ["phases.discriminator.optimizer.lr"]
    pooled, single = data["groups"]
    acc = pooled["summary"]["cluster/acc"]
    assert acc["n"] == 2 and acc["values"] == [0.8, 0.9]
    assert math.isclose(acc["mean"], 0.85) and math.isclose(acc["std"], math.sqrt(0.005))
    assert [r["seed"] for r in pooled["runs"]] == [0, 1]
    assert single["summary"]["cluster/acc"]["std"] is None
    assert "lr=0.001" in single["label"]
    md = runner.invoke(app, ["compare", str(a), str(b), str(c), "--markdown", "-m", "cluster/*"])
    assert md.exit_code == 0, md.output
    assert "| metric | bigan [lr=0.0002] | bigan [lr=0.001] |" in md.output
    # ↑: the clustering metric declares accuracy higher-is-better; the best mean in bold
    assert "| cluster/acc ↑ | **0.85 ± 0.0707 (0.8, 0.9)** | 0.7 |" in md.output
    text = runner.invoke(app, ["compare", str(a), str(b)])
    assert "seeds pooled" in text.output and "0.85 ± 0.0707" in text.output


def test_compare_across_specs_names_each_difference_once(tmp_path):
    a = fake_run(tmp_path / "b", 0, 0.8)
    c = fake_run(tmp_path / "c", 0, 0.9, name="clustergan")
    result = runner.invoke(app, ["compare", str(a), str(c)])
    assert result.exit_code == 0, result.output
    out = result.output
    assert len(out) < 2500, out  # not a wall of every key of both specs
    assert "=None" not in out and "None" not in out
    assert out.count("train.batch_size") == 1  # once, not in a header and a footer
    assert "only some of the specs have" in out
    row = next(line for line in out.splitlines() if line.startswith("cluster/acc"))
    assert "↑" in row and row.rstrip().endswith("0.9*")  # clustergan's 0.9 is the best
    nmi = next(line for line in out.splitlines() if line.startswith("nmi"))
    assert "↑" not in nmi and "*" not in nmi  # no component declares it: no direction


def test_compare_best_and_last_and_training_keys(tmp_path):
    a = fake_run(tmp_path / "a", 0, 0.8, best_first=True)
    best = json.loads(runner.invoke(app, ["compare", str(a), "--json"]).output)
    last = json.loads(runner.invoke(app, ["compare", str(a), "--json", "--at", "last"]).output)
    assert best["groups"][0]["runs"][0]["values"]["cluster/acc"] == pytest.approx(0.85)
    assert last["groups"][0]["runs"][0]["values"]["cluster/acc"] == pytest.approx(0.8)
    loss = json.loads(
        runner.invoke(app, ["compare", str(a), "--json", "-m", "discriminator/*"]).output
    )
    assert loss["metrics"] == ["discriminator/d_real"]
    assert_clean_error(runner.invoke(app, ["compare", str(a), "-m", "nope"]), "nope", "cluster")
    assert_clean_error(runner.invoke(app, ["compare", str(tmp_path / "x")]), "does not exist")


def readme_first_command() -> list[str]:
    """The arguments of `gan run …` in the README's first command."""
    import shlex

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    block = readme.split("```bash\n", 1)[1].split("```", 1)[0]
    first = block.splitlines()[0]
    args = shlex.split(first.split("&&", 1)[1])
    assert args[:2] == ["gan", "run"], first
    return args[1:]


def test_readme_first_command_leaves_a_report_worth_opening(tmp_path):
    """Unset intervals scale with the run: the README's 200 steps log ~100 points and
    draw ~8 grids. Trained here for 40 of them (the same scaling: 1 point per step), the
    report has at least 20 points per loss curve."""
    from gan.core.spec import load_spec
    from gan.training.runinfo import read_run
    from gan.training.trainer import Trainer

    args = readme_first_command()
    sets = [args[i + 1] for i, a in enumerate(args) if a == "--set"]
    spec = load_spec(args[1], sets)
    log_every, sample_every = Trainer(spec, tmp_path / "unused").intervals(spec.train.steps)
    assert spec.train.steps // log_every >= 20 and spec.train.steps // sample_every >= 6

    out = tmp_path / "run"
    cheap = ["train.steps=40", "train.batch_size=8", "data.limit=64", "eval={}"]
    command = [*args, "--out", str(out), "--quiet"]
    for item in cheap:
        command += ["--set", item]
    result = runner.invoke(app, command)
    assert result.exit_code == 0, result.output
    assert runner.invoke(app, ["report", str(out)]).exit_code == 0
    run = read_run(out)
    for name in run.loss_names():
        assert sum(1 for r in run.train if name in r) >= 20, name
    assert len(run.samples) >= 6
    assert (out / "report.html").is_file()


@pytest.mark.parametrize(
    ("spec", "line"),
    [
        ("infogan", "generator: updates G; every 1 step(s); fresh latents"),
        ("clustergan", "generator: updates G, E; every 1 step(s); fresh batch"),
        ("cgan", "generator: updates G; every 1 step(s)\n"),
    ],
)
def test_inspect_says_which_phases_redraw_their_inputs(spec: str, line: str) -> None:
    """A phase that redraws what it reads (the official InfoGAN's z for G) says so: the
    plan beneath it alone would not tell a reader that the latents were drawn again."""
    result = runner.invoke(app, ["inspect", spec])
    assert result.exit_code == 0, result.output
    assert line in result.output
