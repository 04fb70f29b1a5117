"""The declarative spec: TOML text → validated pydantic models.

Loading happens in two stages, each with errors that name the key at fault:

1. :func:`load_spec` parses TOML, applies ``--set`` overrides and validates the structure
   (``extra="forbid"`` everywhere, so a typo is an error, with "did you mean").
2. :func:`gan.core.resolve.resolve` looks each ``type = "..."`` up in the registry and
   validates the component's own parameters, then builds the graph.

This module is the spec's public entry; the work is done by one module per job:
:mod:`~gan.core.spec_names` (the ``name`` rule), :mod:`~gan.core.spec_models` (the
pydantic models, on the base tables of :mod:`~gan.core.spec_base`, with the
``[sample]``/``[eval]``/``[log]`` tables in :mod:`~gan.core.spec_eval`),
:mod:`~gan.core.spec_read` (finding, reading and parsing a file),
:mod:`~gan.core.spec_load` (``extends``, ``--set``, ``${}`` references, validation) and
:mod:`~gan.core.spec_errors` (validation errors as text).
"""

from __future__ import annotations

from gan.core.spec_base import ComponentSpec, Strict
from gan.core.spec_errors import format_validation_error
from gan.core.spec_eval import EvalSpec, HealthRule, LogSpec, SampleSpec
from gan.core.spec_load import (
    MAX_EXTENDS,
    apply_overrides,
    extend,
    interpolate,
    load_spec,
    merge,
    parse_override,
    read_spec_data,
    spec_from_dict,
)
from gan.core.spec_models import (
    CORE_DATA_KEYS,
    ROOT_MAX,
    DataSpec,
    InitSpec,
    NetworkSpec,
    PhaseSpec,
    SamplerSpec,
    Spec,
    TrainSpec,
)
from gan.core.spec_names import NAME_MAX, NAME_RULE, name_problem, name_reason, safe_name
from gan.core.spec_read import (
    MAX_DEPTH,
    MAX_SPEC_BYTES,
    SPECS_DIR,
    check_depth,
    find_spec_file,
    parse_toml,
    read_spec_bytes,
)

__all__ = [
    "CORE_DATA_KEYS",
    "MAX_DEPTH",
    "MAX_EXTENDS",
    "MAX_SPEC_BYTES",
    "NAME_MAX",
    "NAME_RULE",
    "ROOT_MAX",
    "SPECS_DIR",
    "ComponentSpec",
    "DataSpec",
    "EvalSpec",
    "HealthRule",
    "InitSpec",
    "LogSpec",
    "NetworkSpec",
    "PhaseSpec",
    "SampleSpec",
    "SamplerSpec",
    "Spec",
    "Strict",
    "TrainSpec",
    "apply_overrides",
    "check_depth",
    "extend",
    "find_spec_file",
    "format_validation_error",
    "interpolate",
    "load_spec",
    "merge",
    "name_problem",
    "name_reason",
    "parse_override",
    "parse_toml",
    "read_spec_bytes",
    "read_spec_data",
    "safe_name",
    "spec_from_dict",
]
