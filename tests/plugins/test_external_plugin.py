"""A third-party plugin, installed the way a user would: examples/gan-plugin-lsgan.

The example is pip-installed (editable, no network) for this module only and uninstalled
afterwards, so the environment is left as found. It must show up in `gan plugins` with its
entry-point origin, train from its own packaged spec with `gan run`, and pass its own
fidelity tests. The plugin-failure path needs no install: a broken plugin is recorded in
``Registry.failures`` while every other component still resolves.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import types
from pathlib import Path

import pytest
from helpers import REPO

from gan.core.components import Loss, Network
from gan.core.errors import SpecError
from gan.core.hooks import hookimpl
from gan.core.registry import Registry
from gan.core.resolve import resolve
from gan.core.spec import load_spec

EXAMPLE = REPO / "examples" / "gan-plugin-lsgan"
DIST = "gan-plugin-lsgan"
PLUGIN = "gan_lsgan.plugin"
ORIGIN = f"entry point 'lsgan' ({DIST})"
COMPONENTS = {
    ("network", "lsgan.generator"),
    ("network", "lsgan.discriminator"),
    ("sampler", "lsgan.truncated_normal"),
    ("loss", "lsgan.least_squares"),
}


def run(*args: str, cwd: Path = REPO, env: dict | None = None, timeout: float = 120):
    return subprocess.run(
        [sys.executable, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def pip(*args: str) -> subprocess.CompletedProcess:
    return run("-m", "pip", *args, "-q", "--disable-pip-version-check")


def is_installed() -> bool:
    # asked in a fresh process: this one's importlib.metadata may have cached the old state
    probe = "import importlib.metadata as m, sys; m.distribution(sys.argv[1])"
    return run("-c", probe, DIST).returncode == 0


@pytest.fixture(scope="module")
def installed():
    """The example installed editable; uninstalled again unless it was there before."""
    before = is_installed()
    if not before:
        done = pip("install", "--no-deps", "--no-build-isolation", "-e", str(EXAMPLE))
        assert done.returncode == 0, done.stderr
    try:
        yield
    finally:
        if not before:
            done = pip("uninstall", "-y", DIST)
            assert done.returncode == 0, done.stderr
            assert not is_installed(), f"{DIST} is still installed after the tests"


def test_gan_plugins_lists_the_plugin_and_its_origin(installed):
    listing = run("-m", "gan", "plugins", "--json")
    assert listing.returncode == 0, listing.stderr
    data = json.loads(listing.stdout)
    assert PLUGIN not in data["failures"]
    plugin = data["plugins"][PLUGIN]
    assert plugin["origin"] == ORIGIN
    assert {(c["kind"], c["name"]) for c in plugin["components"]} == COMPONENTS
    loss = next(c for c in plugin["components"] if c["name"] == "lsgan.least_squares")
    assert set(loss["params"]) == {"input", "target", "label", "a", "b", "c"}

    text = run("-m", "gan", "plugins")
    assert text.returncode == 0, text.stderr
    assert f"{PLUGIN}  ({ORIGIN})" in text.stdout
    for _, name in COMPONENTS:
        assert name in text.stdout


def test_gan_run_trains_the_packaged_spec(installed, tmp_path):
    spec = EXAMPLE / "src" / "gan_lsgan" / "specs" / "lsgan.toml"
    out = tmp_path / "run"
    sets = ["data.source=digits", "train.steps=3", "train.batch_size=16"]
    done = run(
        "-m",
        "gan",
        "run",
        str(spec),
        "--out",
        str(out),
        *[a for s in sets for a in ("--set", s)],
        "--quiet",
    )
    assert done.returncode == 0, done.stderr
    assert list((out / "checkpoints").glob("*.safetensors"))
    assert 'type = "lsgan.generator"' in (out / "spec.toml").read_text()
    last = json.loads((out / "metrics.jsonl").read_text().splitlines()[-1])
    assert last["step"] == 3 and "generator/g_fake" in last
    # the plugin's own logger, attached through the trainer's gan_log event
    rows = (out / "losses.csv").read_text().splitlines()
    assert rows[0].split(",")[:2] == ["step", "steps_per_s"] and "generator/g_fake" in rows[0]
    assert [r.split(",")[0] for r in rows[1:]] == ["3"]


@pytest.mark.slow  # a bench script or a package install end to end: CI's second step
def test_the_examples_own_tests_pass(installed):
    done = run("-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:benchmark", cwd=EXAMPLE)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert " passed" in done.stdout


# -- a plugin that fails ------------------------------------------------------------------


def _plugin(name: str, **hooks) -> types.ModuleType:
    module = types.ModuleType(name)
    for hook, fn in hooks.items():
        setattr(module, hook, hookimpl(fn, specname=hook))
    return module


def test_a_raising_hook_is_recorded_and_the_rest_still_resolves():
    def boom():
        raise RuntimeError("boom")

    broken = _plugin("broken_plugin", gan_networks=boom)
    reg = Registry.load(extra=[broken], entry_points=False)
    assert reg.failures["broken_plugin"] == "gan_networks raised RuntimeError: boom"
    assert reg.origins["broken_plugin"] == "registered in code"
    assert reg.get(Network, "bigan.generator", "test").name == "bigan.generator"
    model = resolve(load_spec("bigan", ["data.source=digits"]), reg)
    assert set(model.networks) == {"G", "E", "D"}


def test_bad_declarations_are_recorded_per_plugin():
    not_a_loss = _plugin("not_a_loss", gan_losses=lambda: [Network("x.net", object)])
    clash = _plugin("clash", gan_losses=lambda: [Loss("mse", lambda i, t: i)])
    reg = Registry.load(extra=[not_a_loss, clash], entry_points=False)
    assert "is not a Loss declaration" in reg.failures["not_a_loss"]
    assert "registered by both 'gan.components.losses' and 'clash'" in reg.failures["clash"]
    assert reg.entries[Loss]["mse"].plugin == "gan.components.losses"
    with pytest.raises(SpecError, match=r"unknown network type 'x\.net'"):
        reg.get(Network, "x.net", "networks.G.type")


def _broken_distribution(root: Path) -> Path:
    """A fake installed distribution whose `gan.plugins` entry point fails to import."""
    (root / "broken_gan_plugin.py").write_text('raise ImportError("needs libfoo")\n')
    info = root / "broken_gan_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-gan-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[gan.plugins]\nbroken = broken_gan_plugin\n")
    return root


def test_an_entry_point_that_fails_to_import_is_reported(tmp_path, monkeypatch):
    root = _broken_distribution(tmp_path)
    monkeypatch.syspath_prepend(str(root))
    reg = Registry.load()
    assert reg.failures["broken_gan_plugin"] == "ImportError: needs libfoo"
    assert reg.get(Network, "bigan.generator", "test").name == "bigan.generator"

    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")])),
    }
    listing = run("-m", "gan", "plugins", env=env)
    assert listing.returncode == 0, listing.stderr
    assert "warning: plugin 'broken_gan_plugin' failed to load: ImportError: needs libfoo" in (
        listing.stderr
    )
    assert "bigan.generator" in listing.stdout


def test_a_misspelt_hookimpl_is_a_plugin_failure_with_a_did_you_mean():
    def gan_network():  # the hook is gan_networks
        return [Network("typo.generator", lambda p, ctx: None)]

    reg = Registry.load([_plugin("typo", gan_network=gan_network)], entry_points=False)
    assert "typo" in reg.failures
    assert "'gan_network' is not a gan hook" in reg.failures["typo"]
    assert "Did you mean 'gan_networks'?" in reg.failures["typo"]
    assert "typo.generator" not in reg.names(Network)
    assert "bigan.generator" in reg.names(Network)  # the others still load


def test_gan_plugins_shows_a_misspelt_hookimpl(tmp_path, monkeypatch):
    root = tmp_path / "site"
    root.mkdir()
    (root / "typo_gan_plugin.py").write_text(
        "from gan.api import hookimpl\n\n@hookimpl\ndef gan_sampler():\n    return []\n"
    )
    info = root / "typo_gan_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: typo-gan-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[gan.plugins]\ntypo = typo_gan_plugin\n")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")]),
    }
    done = subprocess.run(
        [sys.executable, "-m", "gan", "plugins"], capture_output=True, text=True, env=env
    )
    assert "plugin 'typo_gan_plugin' failed to load" in done.stderr
    assert "Did you mean 'gan_samplers'?" in done.stderr


def test_event_hooks_see_a_run(tmp_path):
    from gan.core.spec import load_spec
    from gan.training.trainer import Trainer

    seen: list[tuple] = []

    class Events:
        @hookimpl
        def gan_train_start(self, trainer):
            seen.append(("start", trainer.engine.step_count))

        @hookimpl
        def gan_step_end(self, step, losses):
            seen.append(("step", step, sorted(losses)))

        @hookimpl
        def gan_log(self, step, losses, steps_per_s):
            seen.append(("log", step, steps_per_s > 0))

        @hookimpl
        def gan_checkpoint_saved(self, step, path):
            seen.append(("checkpoint", step, path.name))

        @hookimpl
        def gan_train_end(self, step):
            seen.append(("end", step))

    events = Events()
    reg = Registry.load([events], entry_points=False)
    sets = ["data.source=digits", "train.steps=2", "train.batch_size=16", "train.log_every=2"]
    sets.append("eval={}")  # no evaluation (nor best checkpoint) in this run
    spec = load_spec("bigan", sets)
    Trainer(spec, tmp_path / "run", model=resolve(spec, reg), quiet=True).run()
    terms = sorted(
        ["discriminator/d_real", "discriminator/d_fake", "generator/eg_real", "generator/eg_fake"]
    )
    assert seen == [
        ("start", 0),
        ("step", 1, terms),
        ("log", 2, True),
        ("step", 2, terms),
        ("checkpoint", 2, "step_00000002.safetensors"),
        ("end", 2),
    ]


# -- the tutorial's snippets are the example's real code ---------------------------------

SNIPPET = re.compile(r"<!-- snippet: (\S+) -->\n```\w*\n(.*?)\n```", re.DOTALL)


def test_tutorial_snippets_match_the_example():
    doc = (REPO / "docs" / "plugins.md").read_text()
    snippets = SNIPPET.findall(doc)
    assert len(snippets) >= 5
    for path, block in snippets:
        source = (REPO / path).read_text()
        # a snippet may leave parts out, but each paragraph of it is verbatim
        for chunk in block.split("\n\n"):
            stale = f"docs/plugins.md is out of date with {path}:\n{chunk}"
            assert chunk.strip("\n") in source, stale
