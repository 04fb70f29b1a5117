"""Hostile specs: hypothesis generates malformed specs (wrong types, unknown or missing
keys, unknown component types, graph cycles, losses on unknown nodes, phases updating
unknown networks, absurd sizes, invalid TOML, non-UTF-8 bytes, path-like names, arrays
and inline tables nested thousands deep). Every one must end in a clean error (exit
code 2, one message) — never a traceback. A mutation that happens to
leave the spec valid must resolve and dry-run (exit code 0).

The budget is ``--fuzz-examples`` (default 500); run more with e.g.
``pytest tests/core/test_spec_fuzz.py --fuzz-examples 5000``.
"""

from __future__ import annotations

import copy
import math
import tempfile
from pathlib import Path

import tomli_w
from helpers import read_spec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from gan.cli import app

runner = CliRunner()


def small_base() -> dict:
    spec = read_spec("bigan")
    for net in spec["networks"].values():
        net["hidden"] = 16
    spec["data"]["source"] = "digits"
    return spec


BASE = small_base()
NODES = ["x", "y", "z", "z_enc", "x_fake", "d_real", "d_fake", "nope"]
FUNCS = ["G", "E", "D", "cat", "one_hot", "interpolate", "eval", "zz"]


def leaf_paths(data, prefix=()):
    if isinstance(data, dict):
        for k, v in data.items():
            yield (*prefix, k)
            yield from leaf_paths(v, (*prefix, k))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            yield (*prefix, i)
            yield from leaf_paths(v, (*prefix, i))


PATHS = list(leaf_paths(BASE))

scalars = st.one_of(
    st.integers(min_value=-(10**13), max_value=10**13),
    st.sampled_from([0, -1, 10**12, 2**63 - 1]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.booleans(),
)
values = st.one_of(
    scalars,
    st.lists(scalars, max_size=3),
    st.dictionaries(st.text(max_size=6), scalars, max_size=2),
)
expressions = st.one_of(
    st.text(max_size=20),
    st.builds(
        lambda f, args: f"{f}({', '.join(args)})",
        st.sampled_from(FUNCS),
        st.lists(st.sampled_from([*NODES, "1", "-2.5", "G(z)", "x.y"]), max_size=3),
    ),
)


def set_path(spec, path, value):
    node = spec
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value


def del_path(spec, path):
    node = spec
    for key in path[:-1]:
        node = node[key]
    del node[path[-1]]


# Names that would lead runs/<name> elsewhere: separators, '..', absolute paths.
path_names = st.one_of(
    st.sampled_from(["..", ".", "../..", "/", "/tmp/x", "~/x", "C:\\x", "a/../../b", ""]),
    st.builds(
        lambda a, sep, b: a + sep + b,
        st.text(max_size=6),
        st.sampled_from(["/", "\\", "/../", "\x00", "\n"]),
        st.text(max_size=6),
    ),
    st.builds(lambda n: "../" * n + "escaped", st.integers(1, 5)),
)

mutation = st.one_of(
    st.tuples(st.just("set"), st.sampled_from(PATHS), values),
    st.tuples(st.just("set"), st.just(("name",)), path_names),
    st.tuples(st.just("set"), st.just(("data", "root")), path_names),
    st.tuples(st.just("del"), st.sampled_from(PATHS), st.none()),
    st.tuples(
        st.just("add"),
        st.sampled_from(
            [(), ("train",), ("data",), ("networks", "G"), ("losses", "d_real"), ("phases", 0)]
        ),
        st.tuples(st.text(min_size=1, max_size=8), values),
    ),
    st.tuples(st.just("graph"), st.sampled_from([*NODES[3:], "a", "b"]), expressions),
    st.tuples(
        st.just("type"),
        st.sampled_from(
            [("networks", "G"), ("samplers", "z"), ("losses", "d_fake"), ("phases", 0, "optimizer")]
        ),
        st.text(max_size=15),
    ),
    st.tuples(
        st.just("size"),
        st.sampled_from(
            [
                ("networks", "G", "hidden"),
                ("samplers", "z", "dim"),
                ("train", "batch_size"),
                ("networks", "D", "latent_dim"),
            ]
        ),
        st.sampled_from([0, -5, 10**12, 10**6, 3.5, "big"]),
    ),
)


def apply(spec, mut):
    kind, where, value = mut
    try:
        if kind == "set":
            set_path(spec, where, value)
        elif kind == "del":
            del_path(spec, where)
        elif kind == "add":
            node = spec
            for key in where:
                node = node[key]
            node[value[0]] = value[1]
        elif kind == "graph":
            spec.setdefault("graph", {})[where] = value
        elif kind == "type":
            node = spec
            for key in where:
                node = node[key]
            node["type"] = value
        elif kind == "size":
            set_path(spec, where, value)
    except (KeyError, IndexError, TypeError):
        pass  # the path vanished under an earlier mutation: fine, keep fuzzing


def check(content: bytes, *args: str):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "spec.toml"
        path.write_bytes(content)
        result = runner.invoke(app, ["inspect", str(path), *args])
    assert result.exit_code in (0, 2), (result.exit_code, result.output, result.exception)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    assert "Traceback" not in result.output
    if result.exit_code == 2:
        assert result.output.startswith("error: ") and len(result.output) > 20, result.output
    return result


def dump(spec) -> bytes | None:
    try:
        return tomli_w.dumps(spec).encode()
    except (TypeError, ValueError):
        return None  # not representable in TOML (e.g. a key that is not a string)


def fuzz_settings(request, share: float):
    n = max(1, math.ceil(request.config.getoption("--fuzz-examples") * share))
    return settings(
        max_examples=n,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )


def test_mutated_specs_fail_cleanly(request):
    @fuzz_settings(request, 0.8)
    @given(st.lists(mutation, min_size=1, max_size=3))
    def run(mutations):
        spec = copy.deepcopy(BASE)
        for mut in mutations:
            apply(spec, mut)
        content = dump(spec)
        if content is not None:
            check(content)

    run()


def test_garbage_files_fail_cleanly(request):
    @fuzz_settings(request, 0.2)
    @given(st.one_of(st.binary(max_size=200), st.text(max_size=200).map(str.encode)))
    def run(content):
        check(content)

    run()


def test_path_like_names_are_refused(request):
    """A name that is not a plain file name never reaches runs/<name>: exit 2, naming it."""

    @fuzz_settings(request, 0.05)
    @given(path_names, st.booleans())
    def run(name, via_set):
        spec = copy.deepcopy(BASE)
        if via_set:
            result = check(dump(spec), "--set", f"name={name}")
        else:
            spec["name"] = name
            result = check(dump(spec))
        assert result.exit_code == 2, result.output
        assert "name" in result.output

    run()


def test_deep_nesting_fails_cleanly(request):
    """Arrays and inline tables nested up to thousands deep, in the file or in --set."""

    @fuzz_settings(request, 0.05)
    @given(
        st.integers(min_value=33, max_value=6000),
        st.lists(st.sampled_from(["[", "{a = "]), min_size=1, max_size=3),
        st.sampled_from(["description", "train.steps", "networks.G.hidden", "x", "--set"]),
        st.booleans(),
    )
    def run(depth, openers, where, closed):
        opened = [openers[i % len(openers)] for i in range(depth)]
        value = "".join(opened) + "1"
        if closed:
            value += "".join("]" if o == "[" else "}" for o in reversed(opened))
        spec = copy.deepcopy(BASE)
        spec.pop("description", None)
        if where == "--set":
            result = check(dump(spec), "--set", f"description={value}")
        elif where == "description":
            result = check(f"description = {value}\n".encode() + dump(spec))
        else:
            *tables, key = where.split(".")
            text = dump(spec).decode()
            header = f"[{'.'.join(tables)}]\n" if tables else ""
            if header and header in text:
                text = text.replace(header, f"{header}{key} = {value}\n", 1)
            else:
                text = f"{key} = {value}\n" + text
            result = check(text.encode())
        if closed or where != "--set":  # an unclosed --set value is a plain string
            assert result.exit_code == 2, result.output

    run()


# -- the features since: schedules, phase options, BatchNorm options, [eval] BatchNorm
# and health, seeds, ${} references and `extends` ----------------------------------------

odd_numbers = st.one_of(
    scalars,
    st.sampled_from([math.nan, math.inf, -math.inf, -1, 0, 1e308, 10**30, 2**70]),
    st.lists(st.sampled_from([math.nan, math.inf, -3, 0, 5, 10**20]), max_size=3),
)
references = st.one_of(
    st.sampled_from(
        [
            "${train.batch_size}",
            "${train.batch_size} + ${samplers.z.dim}",
            "${nope.key}",
            "${train.compile}",
            "${train}",
            "${",
            "${train.batch_size} * 2",
            "${name}",
            "${samplers.z.dim} + " + "9" * 5000,
        ]
    ),
    st.builds(lambda k: "${" + k + "}", st.text(max_size=12)),
)
FEATURE_KEYS = {
    ("phases", 0, "schedule"): st.one_of(
        st.fixed_dictionaries(
            {"type": st.sampled_from(["exponential_decay", "step", "cosine", "linear", "zz"])},
            optional={
                k: odd_numbers
                for k in ("hold", "decay", "end_factor", "milestones", "gamma", "unit", "steps")
            },
        ),
        values,
    ),
    ("phases", 1, "simultaneous"): values,
    ("phases", 1, "fresh"): st.one_of(st.sampled_from(["none", "latents", "batch"]), values),
    ("phases", 1, "fresh_batch"): values,
    ("phases", 0, "every"): odd_numbers,
    ("phases", 0, "clip_grad_norm"): odd_numbers,
    ("networks", "G", "batchnorm_affine"): st.one_of(st.sampled_from(["shift", "gamma"]), values),
    ("networks", "G", "batchnorm_eps"): odd_numbers,
    ("networks", "E", "batchnorm_momentum"): st.one_of(st.just("none"), odd_numbers),
    ("networks", "D", "last_init"): values,
    ("eval", "batchnorm"): st.one_of(st.sampled_from(["running", "batch", "reestimate"]), values),
    ("eval", "batchnorm_batches"): odd_numbers,
    ("eval", "best"): st.one_of(st.sampled_from(["probe/knn1_acc", "probe/acx", "nope/x"]), values),
    ("eval", "health", "h"): st.one_of(
        st.fixed_dictionaries(
            {},
            optional={
                "metric": st.sampled_from(["samples/frechet", "nope", ""]),
                "loss": st.sampled_from(["discriminator/d_real", "x/y"]),
                "above": odd_numbers,
                "below": odd_numbers,
                "last": odd_numbers,
                "says": st.text(max_size=300),
            },
        ),
        values,
    ),
    ("train", "seeds"): st.one_of(st.lists(odd_numbers, max_size=4), values),
    ("train", "seed"): odd_numbers,
    ("data", "val"): odd_numbers,
    ("data", "val_seed"): odd_numbers,
    ("data", "val_pick"): st.one_of(st.sampled_from(["random", "first", "last"]), values),
    ("train", "vectorize"): st.one_of(st.sampled_from(["auto", True, False]), values),
    ("train", "cuda_graph"): st.one_of(st.sampled_from(["auto", True, False]), values),
}
feature_mutation = st.one_of(
    *(
        st.tuples(st.just("put"), st.just(path), strategy)
        for path, strategy in FEATURE_KEYS.items()
    ),
    st.tuples(st.just("put"), st.sampled_from(PATHS), references),
)


def put(spec, path, value):
    """Set ``path`` (creating tables on the way); a vanished list index is skipped."""
    node = spec
    try:
        for key in path[:-1]:
            node = node.setdefault(key, {}) if isinstance(node, dict) else node[key]
        node[path[-1]] = value
    except (KeyError, IndexError, TypeError):
        pass


def test_new_features_fail_cleanly(request):
    @fuzz_settings(request, 0.3)
    @given(st.lists(feature_mutation, min_size=1, max_size=3))
    def run(mutations):
        spec = copy.deepcopy(BASE)
        for _, path, value in mutations:
            put(spec, path, value)
        content = dump(spec)
        if content is not None:
            check(content)

    run()


def test_extends_variants_fail_cleanly(request):
    """A file extending a base beside it (or a shipped spec, or nothing that exists),
    patching phases by name, tables or values of any type."""
    base_names = st.sampled_from(
        ["base.toml", "base", "bigan", "./base.toml", "missing.toml", "../x.toml", "", "/dev/zero"]
    )
    patches = st.dictionaries(
        st.sampled_from(["discriminator", "generator", "nope", "0"]),
        st.one_of(
            st.fixed_dictionaries({}, optional={"lr": odd_numbers, "every": odd_numbers}),
            values,
        ),
        max_size=2,
    )

    @fuzz_settings(request, 0.1)
    @given(base_names, patches, st.lists(feature_mutation, max_size=2), st.booleans())
    def run(base_name, phase_patches, mutations, phases_as_table):
        variant: dict = {"extends": base_name, "name": "variant"}
        if phase_patches:
            variant["phases"] = phase_patches if phases_as_table else [phase_patches]
        for _, path, value in mutations:
            put(variant, path, value)
        content = dump(variant)
        if content is None:
            return
        with tempfile.TemporaryDirectory() as tmp:
            (Path(tmp) / "base.toml").write_bytes(dump(BASE))
            path = Path(tmp) / "variant.toml"
            path.write_bytes(content)
            result = runner.invoke(app, ["inspect", str(path)])
        assert result.exit_code in (0, 2), (result.exit_code, result.output, result.exception)
        assert result.exception is None or isinstance(result.exception, SystemExit)
        assert "Traceback" not in result.output
        if result.exit_code == 2:
            assert result.output.startswith("error: ") and len(result.output) < 4000, result.output

    run()
