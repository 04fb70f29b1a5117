"""Inputs from elsewhere (issue #12): a spec, a checkpoint or a data folder that came from
someone else cannot choose where files are written or deleted, and unreadable data or
hostile TOML/JSON end in one clear error (exit code 2) — never a traceback or a hang."""

from __future__ import annotations

import os

import pytest
import tomli_w
from helpers import read_spec
from typer.testing import CliRunner

from gan.cli import app

runner = CliRunner()

HOSTILE_NAMES = [
    "../../escaped",
    "../x",
    "/tmp/absolute",
    "a/b",
    "a\\b",
    ".",
    "..",
    "",
    "x" * 101,
    "tab\tname",
    "new\nline",
    "nul\x00byte",
    "~",
    "spaced name",
]
TINY = [
    "--set",
    "eval.batchnorm_batches=4",  # bigan: 1,000 in its recipe
    "--set",
    "eval.metrics.samples.n=200",  # and 10,000 samples for the judge
    "--set",
    "data.source=digits",
    "--set",
    "data.limit=64",
    "--set",
    "train.steps=1",
    "--set",
    "train.batch_size=8",
    "--set",
    "sample.n=4",
    "--quiet",
]


def assert_clean_error(result, *fragments: str) -> None:
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    assert "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.output
    for fragment in fragments:
        assert fragment in result.output, result.output


def write_spec(path, **changes) -> str:
    spec = read_spec("bigan")
    spec.update(changes)
    path.write_text(tomli_w.dumps(spec))
    return str(path)


def tree(folder) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


# -- the spec's name ------------------------------------------------------------------


@pytest.mark.parametrize("name", HOSTILE_NAMES, ids=repr)
def test_hostile_name_is_refused(tmp_path, name):
    result = runner.invoke(app, ["inspect", write_spec(tmp_path / "s.toml", name=name)])
    assert_clean_error(result, "name = ", "plain file name" if name else "empty", "runs/<name>")


@pytest.mark.parametrize("name", ["../x", "/abs/x", ".."])
def test_hostile_name_from_set_is_refused(name):
    result = runner.invoke(app, ["inspect", "bigan", "--set", f"name={name}"])
    assert_clean_error(result, "name = ", "plain file name")


def test_name_that_is_not_a_string_is_refused(tmp_path):
    result = runner.invoke(app, ["inspect", write_spec(tmp_path / "s.toml", name=3)])
    assert_clean_error(result, "name = 3")


@pytest.mark.parametrize("name", ["bigan", "my-gan_2.1", "A" * 100, ".hidden-ok"])
def test_plain_names_are_accepted(tmp_path, name):
    result = runner.invoke(app, ["inspect", write_spec(tmp_path / "s.toml", name=name)])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("name", ["../../escaped", "ABSOLUTE"])
def test_run_with_hostile_name_writes_nothing(tmp_path, monkeypatch, name):
    """Acceptance: nothing is created anywhere, --force or not."""
    work = tmp_path / "a" / "b"
    work.mkdir(parents=True)
    target = tmp_path / "absolute"
    name = str(target) if name == "ABSOLUTE" else name
    spec = write_spec(tmp_path / "s.toml", name=name)
    before = tree(tmp_path)
    monkeypatch.chdir(work)
    for extra in ([], ["--force"], ["--resume"]):
        result = runner.invoke(app, ["run", spec, *TINY, *extra])
        assert_clean_error(result, "name = ", "plain file name")
    assert tree(tmp_path) == before
    assert not target.exists()


# -- hostile spec files ---------------------------------------------------------------


def test_deeply_nested_arrays(tmp_path):
    """Acceptance: `x = ` then 5,000 '[' and 5,000 ']'."""
    path = tmp_path / "deep.toml"
    path.write_text("x = " + "[" * 5000 + "]" * 5000 + "\n")
    assert_clean_error(runner.invoke(app, ["inspect", str(path)]), "levels deep")
    assert_clean_error(runner.invoke(app, ["run", str(path), "--quiet"]), "levels deep")


@pytest.mark.parametrize("depth", [40, 200, 900, 3000])
def test_nesting_under_the_parser_limit(tmp_path, depth):
    """Arrays and inline tables the parser accepts are still refused before validation."""
    base = read_spec("bigan")
    base.pop("description", None)
    spec = tomli_w.dumps(base)
    deep_array = "[" * depth + "]" * depth
    deep_table = "{a = " * depth + "1" + "}" * depth
    for value in (deep_array, deep_table):
        path = tmp_path / "deep.toml"
        path.write_text(f"description = {value}\n{spec}")
        assert_clean_error(runner.invoke(app, ["inspect", str(path)]), "levels deep")


def test_deep_set_value():
    deep = "[" * 5000 + "]" * 5000
    for value in (deep, "[" * 50 + "]" * 50):
        result = runner.invoke(app, ["inspect", "bigan", "--set", f"description={value}"])
        assert_clean_error(result, "levels deep")


def test_spec_path_is_a_folder(tmp_path):
    assert_clean_error(runner.invoke(app, ["inspect", str(tmp_path)]), "is a folder")


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/null", "/dev/urandom"])
def test_spec_path_is_a_device(device):
    if not os.path.exists(device):
        pytest.skip(f"no {device}")
    assert_clean_error(runner.invoke(app, ["inspect", device]), "not a regular file")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes")
def test_spec_path_is_a_pipe(tmp_path):
    """Opening a pipe with no writer would wait forever."""
    pipe = tmp_path / "spec.toml"
    os.mkfifo(pipe)
    assert_clean_error(runner.invoke(app, ["inspect", str(pipe)]), "not a regular file")


def test_huge_spec_file(tmp_path):
    path = tmp_path / "huge.toml"
    path.write_bytes(b"# " + b"x" * (2 << 20))
    assert_clean_error(runner.invoke(app, ["inspect", str(path)]), "larger than 1 MiB")


def test_huge_value_is_shown_short(tmp_path):
    spec = read_spec("bigan")
    spec["train"]["steps"] = "y" * 100_000
    path = tmp_path / "s.toml"
    path.write_text(tomli_w.dumps(spec))
    result = runner.invoke(app, ["inspect", str(path)])
    assert_clean_error(result, "train.steps")
    assert len(result.output) < 1000


@pytest.mark.parametrize("root", ["a\x00b", "a\nb", "x" * 5000])
def test_hostile_data_root_is_refused(tmp_path, root):
    spec = read_spec("bigan")
    spec["data"]["root"] = root
    path = tmp_path / "s.toml"
    path.write_text(tomli_w.dumps(spec))
    assert_clean_error(runner.invoke(app, ["inspect", str(path)]), "data.root")


# -- image folders ----------------------------------------------------------------------


def image_folder(root, per_class: int = 48):
    """Two class folders of small random PNGs (enough for the spec's validation split
    to hold the 16 examples an evaluation needs)."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    for cls in ("a", "b"):
        (root / cls).mkdir(parents=True)
        for i in range(per_class):
            pixels = (rng.random((8, 8)) * 255).astype("uint8")
            Image.fromarray(pixels).save(root / cls / f"{i}.png")
    return root


def run_image_folder(tmp_path, root, *extra: str):
    args = [
        "run",
        "bigan",
        "--out",
        str(tmp_path / "run"),
        "--set",
        "data.source=image-folder",
        "--set",
        f"data.root={root}",
        "--set",
        "data.image_size=8",
        "--set",
        "data.channels=1",
        "--set",
        "train.steps=1",
        "--set",
        "train.batch_size=4",
        "--set",
        "sample.n=4",
        "--set",
        "eval.metrics.samples.n=200",
        "--set",
        "eval.batchnorm_batches=2",  # bigan: 1,000 in its recipe
        "--quiet",
        *extra,
    ]
    return runner.invoke(app, args)


def test_image_folder_with_a_text_file_named_png(tmp_path):
    """Acceptance: exit 2 naming the file; nothing is written."""
    root = image_folder(tmp_path / "images")
    (root / "a" / "a.png").write_text("not an image\n")
    result = run_image_folder(tmp_path, root)
    assert_clean_error(result, "'a/a.png'", "not an image file", "data.skip_unreadable")
    assert not (tmp_path / "run").exists()


def test_image_folder_reports_every_unreadable_file(tmp_path):
    root = image_folder(tmp_path / "images")
    (root / "a" / "text.png").write_text("hello")
    (root / "b" / "empty.jpg").write_bytes(b"")
    truncated = (root / "b" / "0.png").read_bytes()[:60]
    (root / "b" / "truncated.png").write_bytes(truncated)
    if hasattr(os, "mkfifo"):
        os.mkfifo(root / "b" / "pipe.png")  # opening it would block
    result = run_image_folder(tmp_path, root)
    assert_clean_error(result, "'a/text.png'", "'b/empty.jpg'", "'b/truncated.png'")
    if hasattr(os, "mkfifo"):
        assert "'b/pipe.png' (not a regular file)" in result.output


def test_image_folder_skips_unreadable_files_when_asked(tmp_path):
    root = image_folder(tmp_path / "images")
    (root / "a" / "a.png").write_text("not an image\n")
    result = run_image_folder(tmp_path, root, "--set", "data.skip_unreadable=true")
    assert result.exit_code == 0, result.output
    assert "warning:" in result.output and "'a/a.png'" in result.output


def test_image_folder_with_no_readable_image(tmp_path):
    root = tmp_path / "images"
    (root / "a").mkdir(parents=True)
    (root / "a" / "a.png").write_text("not an image\n")
    result = run_image_folder(tmp_path, root, "--set", "data.skip_unreadable=true")
    assert_clean_error(result, "no readable image")


def test_damaged_gzipped_idx_files(tmp_path):
    root = tmp_path / "mnist"
    root.mkdir()
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"):
        (root / f"{name}.gz").write_bytes(b"\x1f\x8b\x08\x00garbage")
    for name in ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        (root / f"{name}.gz").write_bytes(b"not gzip at all")
    result = runner.invoke(
        app,
        ["run", "bigan", "--out", str(tmp_path / "run"), "--set", f"data.root={root}", "--quiet"],
    )
    assert_clean_error(result, "data.root", "IDX")


# -- checkpoints and run folders from elsewhere -----------------------------------------


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A 1-step bigan run on digits (8×8): its folder."""
    out = tmp_path_factory.mktemp("trained") / "run"
    result = runner.invoke(app, ["run", "bigan", "--out", str(out), *TINY])
    assert result.exit_code == 0, result.output
    return out


def rewrite(run, tmp_path, **meta_changes):
    """A copy of ``run`` whose checkpoint's metadata has ``meta_changes`` (None removes)."""
    import shutil

    from gan.training import checkpoint

    copy = tmp_path / "copy"
    shutil.copytree(run, copy)
    path = checkpoint.latest(copy / "checkpoints")
    tensors, meta = checkpoint.load(path)
    for key, value in meta_changes.items():
        if value is None:
            meta.pop(key, None)
        else:
            meta[key] = value
    checkpoint.save(path, tensors, meta)
    return copy


def stored_spec_with(run, **changes) -> str:
    """The run's stored spec as TOML with top-level or dotted ``changes``."""
    import tomllib

    spec = tomllib.loads((run / "spec.toml").read_text())
    for key, value in changes.items():
        node = spec
        *parents, last = key.split("__")
        for part in parents:
            node = node[part]
        node[last] = value
    return tomli_w.dumps(spec)


@pytest.mark.parametrize("name", ["../../escaped", "/tmp/absolute", ".."])
def test_checkpoint_with_hostile_stored_name(trained, tmp_path, monkeypatch, name):
    """eval, sample and resume refuse a checkpoint whose spec names a folder elsewhere."""
    copy = rewrite(trained, tmp_path, spec_toml=stored_spec_with(trained, name=name))
    monkeypatch.chdir(tmp_path)
    before = tree(tmp_path)
    result = runner.invoke(app, ["eval", str(copy), "-q"])
    assert_clean_error(result, "name = ", "plain file name")
    result = runner.invoke(app, ["sample", str(copy), "--out", str(tmp_path / "g.png")])
    assert_clean_error(result, "name = ", "plain file name")
    spec_json = stored_spec_with(trained, name=name)
    import json
    import tomllib

    copy2 = rewrite(trained, tmp_path / "2", spec_json=json.dumps(tomllib.loads(spec_json)))
    before = tree(tmp_path)
    for extra in ([], ["--force"]):
        result = runner.invoke(
            app, ["run", "bigan", "--out", str(copy2), "--resume", *TINY, *extra]
        )
        assert_clean_error(result, "name = ", "plain file name")
    assert tree(tmp_path) == before


@pytest.mark.parametrize(
    "spec_toml",
    [
        "x = " + "[" * 5000 + "]" * 5000,
        "description = " + "[" * 100 + "]" * 100,
        "# " + "x" * (2 << 20),
        "\udcff not utf-8",
        "name = [",
    ],
    ids=["deep", "nested", "huge", "binary", "invalid"],
)
def test_checkpoint_with_hostile_stored_spec(trained, tmp_path, spec_toml):
    spec_toml = spec_toml.encode("utf-8", "surrogateescape").decode("latin-1")
    copy = rewrite(trained, tmp_path, spec_toml=spec_toml)
    assert_clean_error(runner.invoke(app, ["eval", str(copy), "-q"]))
    assert_clean_error(runner.invoke(app, ["sample", str(copy), "-o", str(tmp_path / "g.png")]))


@pytest.mark.parametrize("spec_json", ["[" * 100_000 + "]" * 100_000, "[1, 2]", "{", "3"])
def test_resume_with_hostile_stored_spec_json(trained, tmp_path, spec_json):
    copy = rewrite(trained, tmp_path, spec_json=spec_json)
    result = runner.invoke(app, ["run", "bigan", "--out", str(copy), "--resume", *TINY])
    assert_clean_error(result, "different spec")


@pytest.mark.parametrize(
    "key, value",
    [
        ("optim.discriminator", "[" * 100_000 + "]" * 100_000),
        ("optim.discriminator", "not json"),
        ("optim.discriminator", '{"scalars": 3}'),
        ("rng.numpy", "[" * 100_000 + "]" * 100_000),
        ("rng.python", "{}"),
        ("step", "many"),
        ("step", None),
    ],
)
def test_checkpoint_with_hostile_state_metadata(trained, tmp_path, key, value):
    copy = rewrite(trained, tmp_path, **{key: value})
    assert_clean_error(runner.invoke(app, ["sample", str(copy), "-o", str(tmp_path / "g.png")]))


@pytest.mark.parametrize(
    "pointer",
    [b"../../outside/step_00000009.safetensors", b"/etc/passwd", b"\xff\xfe" * 1000, b""],
)
def test_latest_pointer_never_leads_out_of_the_folder(trained, tmp_path, pointer):
    from gan.training import checkpoint

    copy = rewrite(trained, tmp_path)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "step_00000009.safetensors").write_bytes(b"not a checkpoint")
    (copy / "checkpoints" / checkpoint.LATEST).write_bytes(pointer)
    assert checkpoint.latest(copy) == copy / "checkpoints" / checkpoint.checkpoint_name(1)
    result = runner.invoke(app, ["sample", str(copy), "-o", str(tmp_path / "g.png")])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("part", ["checkpoints", "samples"])
def test_force_never_follows_a_symlink_out_of_the_run_folder(trained, tmp_path, part):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(trained, copy)
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    keep = {"step_00000001.safetensors", "step_00000001.png", "latest"}
    for name in keep:
        (foreign / name).write_text("someone else's file")
    shutil.rmtree(copy / part)
    (copy / part).symlink_to(foreign, target_is_directory=True)
    for extra in (["--force"], ["--resume"]):
        result = runner.invoke(app, ["run", "bigan", "--out", str(copy), *TINY, *extra])
        assert_clean_error(result, "symbolic link", part)
    assert {p.name for p in foreign.iterdir()} == keep


def test_stored_data_root_is_not_created_by_a_download(trained, tmp_path):
    """A checkpoint from elsewhere may name any data.root; gan sample reads it, and does
    not create it (nor download into it) unless --set says so."""
    nowhere = tmp_path / "nowhere" / "mnist"
    spec_toml = stored_spec_with(
        trained,
        data__source="mnist",
        data__root=str(nowhere),
        data__download=True,
    )
    copy = rewrite(trained, tmp_path, spec_toml=spec_toml)
    result = runner.invoke(app, ["sample", str(copy), "-o", str(tmp_path / "g.png")])
    assert_clean_error(result, "data.root", str(nowhere))
    assert not (tmp_path / "nowhere").exists()


@pytest.mark.parametrize("out", [".", "/", ".."])
def test_sample_out_that_is_not_a_file_name(trained, tmp_path, out):
    result = runner.invoke(app, ["sample", str(trained), "--out", out])
    assert_clean_error(result, "--out")


@pytest.mark.parametrize("name", ["../escaped", "/tmp/absolute", "a b", ".."])
def test_init_refuses_a_name_that_is_not_a_plain_file_name(tmp_path, monkeypatch, name):
    monkeypatch.chdir(tmp_path)
    assert_clean_error(runner.invoke(app, ["init", name]), "plain file name")
    assert list(tmp_path.iterdir()) == []


def test_init_from_a_folder_or_device(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "folder").mkdir()
    assert_clean_error(runner.invoke(app, ["init", "x", "--from", "folder"]), "is a folder")
    if os.path.exists("/dev/zero"):
        result = runner.invoke(app, ["init", "x", "--from", "/dev/zero"])
        assert_clean_error(result, "not a regular file")
    assert not (tmp_path / "x.toml").exists()


def test_unwritable_classifier_cache_is_not_fatal(tmp_path, monkeypatch, capsys):
    import torch

    from gan.evaluation import classifier

    blocker = tmp_path / "cache"
    blocker.write_text("a file where the cache folder should be")
    monkeypatch.setenv("GAN_CACHE", str(blocker))
    monkeypatch.setattr(classifier, "EPOCHS", 1)
    images = torch.rand(256, 1, 8, 8) * 2 - 1
    labels = torch.arange(256) % 10
    net = classifier.load_or_train(images, labels, 10, quiet=True)
    assert isinstance(net, classifier.DataClassifier)
    assert "cannot cache the eval classifier" in capsys.readouterr().err
