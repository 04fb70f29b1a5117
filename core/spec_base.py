"""The two kinds of spec table every other model builds on: a table that forbids
unknown keys and finite numbers only (``Strict``), and a component table whose extra
keys are the registered component's own parameters (``ComponentSpec``)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


class Strict(BaseModel):
    # every number written in a spec is finite: NaN/inf in a rate, a weight, a length
    # would surface mid-run as a traceback or a NaN loss
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class ComponentSpec(BaseModel):
    """``type = "..."`` plus that component's parameters (validated by the registry)."""

    model_config = ConfigDict(extra="allow")
    type: str

    @property
    def params(self) -> dict[str, Any]:
        return dict(self.model_extra or {})
