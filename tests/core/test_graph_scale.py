"""Resolving a graph is linear in its size (issue: a 10,000-node chain held a set of
ancestors per node, N²/2 entries, 3.2 GB), and the number of entries has a cap."""

from __future__ import annotations

import tracemalloc

import pytest

from gan.core.errors import SpecError
from gan.core.graph import MAX_NODES, Graph


def chain(n: int) -> dict[str, str]:
    table = {"c0": "G(z)"}
    table.update({f"c{i}": f"flatten(c{i - 1})" for i in range(1, n)})
    return table


def test_a_long_chain_takes_memory_linear_in_its_length():
    """Measured here: ~2 KiB per node; the quadratic sets took ~3.2 GB at 10,000 nodes
    (a set entry per ancestor: 12.5 million of them at 5,000)."""
    n = 5_000
    tracemalloc.start()
    try:
        graph = Graph.build(chain(n), ("x", "y", "z"), {"G"}, {"flatten"})
        needed = graph.calls_for([f"c{n - 1}"])
        after = graph.downstream([graph.producer["c10"]])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(needed) == n and needed[0].key == "c0"
    assert len(after) == n - 10
    assert graph.dep_nets[graph.producer[f"c{n - 1}"]] == frozenset({"G"})
    assert peak < 64 * 2**20, f"{peak / 2**20:.0f} MiB for {n} nodes"


def test_more_entries_than_the_cap_are_refused_at_once():
    with pytest.raises(SpecError, match=f"at most {MAX_NODES}"):
        Graph.build(chain(MAX_NODES + 1), ("x", "y", "z"), {"G"}, {"flatten"})
