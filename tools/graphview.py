"""The resolved graph and its phase plan as a picture: DOT and Mermaid text (`gan inspect
--format dot|mermaid`) and an SVG drawing (`gan report`).

One diagram, built from :func:`gan.tools.inspect.describe`'s data: the data and sampler
nodes, every graph node (filled with the colour of the network that computes it), the
loss terms, the phases (an edge from each term, labelled with its weight) and the
networks each phase updates (dashed edges). The layout is never hand-made: Graphviz's
``dot`` draws it where it is installed, else the pure-Python Sugiyama layout of
`grandalf <https://pypi.org/project/grandalf/>`_ places the boxes and this module only
writes them out as SVG.
"""

from __future__ import annotations

import html
import shutil
import subprocess
from dataclasses import dataclass, field
from typing import Any

from gan.core.errors import GanError
from gan.tools import escape

# Network fills (colour-blind-safe pastel set); data, samplers, ops, losses, phases fixed.
NETWORK_COLOURS = [
    "#a6cee3",
    "#b2df8a",
    "#fdbf6f",
    "#cab2d6",
    "#fb9a99",
    "#ffff99",
    "#8dd3c7",
    "#bebada",
    "#80b1d3",
    "#fccde5",
]
KIND_STYLE = {  # kind → (fill, shape)
    "data": ("#eeeeee", "ellipse"),
    "sampler": ("#fff3c4", "ellipse"),
    "op": ("#ffffff", "box"),
    "loss": ("#fde0dd", "note"),
    "phase": ("#fdd49e", "box3d"),
}


@dataclass
class Vertex:
    id: str
    lines: list[str]
    kind: str  # data, sampler, node, op, loss, phase, network
    fill: str
    shape: str


@dataclass
class Edge:
    src: str
    dst: str
    label: str = ""
    dashed: bool = False


@dataclass
class Diagram:
    name: str
    vertices: dict[str, Vertex] = field(default_factory=dict)
    edges: list[Edge] = field(default_factory=list)

    def add(self, vid: str, lines: list[str], kind: str, fill: str, shape: str) -> None:
        self.vertices[vid] = Vertex(vid, lines, kind, fill, shape)

    def connect(self, src: str, dst: str, label: str = "", dashed: bool = False) -> None:
        if src in self.vertices and dst in self.vertices:
            self.edges.append(Edge(src, dst, label, dashed))


def network_colours(info: dict[str, Any]) -> dict[str, str]:
    return {
        name: NETWORK_COLOURS[i % len(NETWORK_COLOURS)] for i, name in enumerate(info["networks"])
    }


def diagram(info: dict[str, Any]) -> Diagram:
    """The picture's content, independent of its notation."""
    colours = network_colours(info)
    d = Diagram(info["name"])
    for name, node in info["nodes"].items():
        frm = node["from"]
        shape = "x".join(str(s) for s in node["shape"]) if isinstance(node["shape"], list) else ""
        if frm == "data":
            d.add(f"n_{name}", [name, "data", shape], "data", *KIND_STYLE["data"])
        elif frm.startswith("sampler"):
            kind = frm.split("'")[1] if "'" in frm else "sampler"
            d.add(f"n_{name}", [name, kind, shape], "sampler", *KIND_STYLE["sampler"])
        elif node.get("call_kind") == "network" or node.get("call") in colours:
            d.add(f"n_{name}", [name, frm, shape], "node", colours[node["call"]], "box")
        else:
            d.add(f"n_{name}", [name, frm, shape], "op", *KIND_STYLE["op"])
    for name, node in info["nodes"].items():
        for dep in dict.fromkeys(node.get("depends_on", [])):
            d.connect(f"n_{dep}", f"n_{name}")
    for name, loss in info["losses"].items():
        target = loss.get("target")
        what = f"{loss['type']}" + (f" → {target}" if isinstance(target, int | float) else "")
        d.add(f"l_{name}", [name, what], "loss", *KIND_STYLE["loss"])
        inputs = [loss["input"], *loss.get("nodes", {}).values()]
        if isinstance(target, str):
            inputs.append(target)
        for node in dict.fromkeys(inputs):
            if isinstance(node, str):
                d.connect(f"n_{node}", f"l_{name}")
    for group in _phase_groups(info["plan"]):
        p = group["first"]
        opt = p["optimizer"]
        sched = []
        if group["count"] > 1:
            sched.append(f"×{group['count']} per step")
        if p.get("every", 1) != 1:
            sched.append(f"every {p['every']} steps")
        lines = [p["phase"], f"{opt['type']} lr={opt.get('lr')}", ", ".join(sched)]
        pid = f"p_{p['phase']}"
        d.add(pid, [x for x in lines if x], "phase", *KIND_STYLE["phase"])
        for term, weight in p["losses"].items():
            d.connect(f"l_{term}", pid, f"{weight:g}")
    for name, net in info["networks"].items():
        d.add(
            f"w_{name}",
            [name, net["type"], f"{net['parameters']:,} params"],
            "network",
            colours[name],
            "component",
        )
    for group in _phase_groups(info["plan"]):
        p = group["first"]
        for net in p["updates"]:
            d.connect(f"p_{p['phase']}", f"w_{net}", "updates", dashed=True)
    return d


def _phase_groups(plan: list[dict[str, Any]]) -> list[dict[str, Any]]:
    from gan.tools.inspect import collapse_plan

    seen: dict[str, dict[str, Any]] = {}
    for group in collapse_plan(plan):
        seen.setdefault(group["first"]["phase"], group)
    return list(seen.values())


# -- DOT --------------------------------------------------------------------------------


def to_dot(info: dict[str, Any], rankdir: str = "LR") -> str:
    d = diagram(info)
    out = [
        f"digraph {escape.dot(d.name)} {{",
        f"  rankdir={rankdir};",
        '  graph [fontname="Helvetica", fontsize=11, nodesep=0.25, ranksep=0.45];',
        '  node [fontname="Helvetica", fontsize=10, style="filled,rounded", penwidth=1.2];',
        '  edge [fontname="Helvetica", fontsize=9, color="#555555", arrowsize=0.7];',
    ]
    for v in d.vertices.values():
        label = "\\n".join(escape.dot(x)[1:-1] for x in v.lines)
        style = "filled" if v.shape in ("note", "box3d", "component", "ellipse") else None
        attrs = [f'label="{label}"', f"shape={v.shape}", f'fillcolor="{v.fill}"']
        if style:
            attrs.append(f'style="{style}"')
        if v.kind == "phase":
            attrs.append("penwidth=2")
        out.append(f"  {escape.dot(v.id)} [{', '.join(attrs)}];")
    for e in d.edges:
        attrs = []
        if e.label:
            attrs.append(f"label={escape.dot(e.label)}")
        if e.dashed:
            attrs.append('style=dashed, color="#b35806"')
        suffix = f" [{', '.join(attrs)}]" if attrs else ""
        out.append(f"  {escape.dot(e.src)} -> {escape.dot(e.dst)}{suffix};")
    out.append("}")
    return "\n".join(out) + "\n"


# -- Mermaid ------------------------------------------------------------------------------


def to_mermaid(info: dict[str, Any]) -> str:
    d = diagram(info)
    ids = escape.mermaid_ids(d.vertices)
    brackets = {
        "ellipse": ('(["', '"])'),
        "note": ('[/"', '"/]'),
        "box3d": ('{{"', '"}}'),
        "component": ('[["', '"]]'),
        "box": ('["', '"]'),
    }
    out = ["flowchart LR"]
    classes: dict[str, str] = {}
    for vid, v in d.vertices.items():
        left, right = brackets.get(v.shape, ('["', '"]'))
        label = "<br/>".join(escape.mermaid_text(x) for x in v.lines)
        out.append(f"  {ids[vid]}{left}{label}{right}")
        cls = "c" + v.fill.lstrip("#")
        classes[cls] = v.fill
        out.append(f"  class {ids[vid]} {cls}")
    for e in d.edges:
        arrow = "-.->" if e.dashed else "-->"
        label = f"|{escape.mermaid_text(e.label)}|" if e.label else ""
        out.append(f"  {ids[e.src]} {arrow}{label} {ids[e.dst]}")
    for cls, fill in classes.items():
        out.append(f"  classDef {cls} fill:{fill},stroke:#555,color:#000")
    return "\n".join(out) + "\n"


# -- SVG ----------------------------------------------------------------------------------


def to_svg(info: dict[str, Any]) -> tuple[str, str]:
    """``(svg text, what drew it)``: Graphviz's dot where installed, else grandalf.
    A GanError when neither is available."""
    dot = shutil.which("dot")
    if dot is not None:
        try:
            done = subprocess.run(
                [dot, "-Tsvg"],
                input=to_dot(info).encode(),
                capture_output=True,
                timeout=60,
                check=True,
            )
            svg = done.stdout.decode("utf-8", errors="replace")
            return svg[svg.index("<svg") :], "Graphviz dot"
        except (OSError, subprocess.SubprocessError, ValueError):
            pass  # a broken install: fall back to the pure-Python layout
    try:
        return _grandalf_svg(diagram(info)), "grandalf"
    except ImportError:
        raise GanError(
            "Drawing the graph needs Graphviz's `dot` (apt-get install graphviz) or the "
            "grandalf package (pip install 'gan[report]')."
        ) from None


CHAR_W, LINE_H, PAD = 6.6, 14.0, 10.0


def _size(v: Vertex) -> tuple[float, float]:
    width = max(len(x) for x in v.lines) * CHAR_W + 2 * PAD
    return max(width, 50.0), len(v.lines) * LINE_H + PAD


def _grandalf_svg(d: Diagram) -> str:
    from grandalf.graphs import Edge as GEdge
    from grandalf.graphs import Graph
    from grandalf.graphs import Vertex as GVertex
    from grandalf.layouts import SugiyamaLayout
    from grandalf.routing import route_with_lines

    class View:
        def __init__(self, w: float, h: float) -> None:
            # grandalf lays out top-down; we draw left-to-right, so width and height swap
            self.w, self.h = h, w
            self.xy = (0.0, 0.0)

    class EdgeView:
        def __init__(self) -> None:
            self._pts: list[tuple[float, float]] = []

        def setpath(self, pts) -> None:
            self._pts = list(pts)

    gv = {vid: GVertex(vid) for vid in d.vertices}
    for vid, vertex in gv.items():
        vertex.view = View(*_size(d.vertices[vid]))
    gedges = []
    for e in d.edges:
        ge = GEdge(gv[e.src], gv[e.dst])
        ge.view = EdgeView()
        ge.meta = e
        gedges.append(ge)
    graph = Graph(list(gv.values()), gedges)
    offset = 0.0
    placed: dict[str, tuple[float, float]] = {}
    paths: list[tuple[Edge, list[tuple[float, float]]]] = []
    for comp in graph.C:
        layout = SugiyamaLayout(comp)
        layout.route_edge = route_with_lines
        layout.xspace, layout.yspace = 14, 50
        layout.init_all()
        layout.draw()
        xs = [v.view.xy[0] - v.view.w / 2 for v in comp.sV]
        shift = offset - min(xs)
        for v in comp.sV:
            x, y = v.view.xy
            placed[v.data] = (y, x + shift)  # transpose: layers run left to right
        for ge in comp.sE:
            pts = [(py, px + shift) for px, py in (ge.view._pts or [])]
            paths.append((ge.meta, pts))
        offset = max(v.view.xy[0] + v.view.w / 2 for v in comp.sV) + shift + 30
    sizes = {vid: _size(v) for vid, v in d.vertices.items()}
    x0 = min(placed[v][0] - sizes[v][0] / 2 for v in placed) - 20
    y0 = min(placed[v][1] - sizes[v][1] / 2 for v in placed) - 20
    x1 = max(placed[v][0] + sizes[v][0] / 2 for v in placed) + 20
    y1 = max(placed[v][1] + sizes[v][1] / 2 for v in placed) + 20
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{x1 - x0:.0f}" height="{y1 - y0:.0f}" '
        f'viewBox="{x0:.1f} {y0:.1f} {x1 - x0:.1f} {y1 - y0:.1f}" '
        f'font-family="Helvetica, Arial, sans-serif" font-size="10">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
        'fill="#555"/></marker></defs>',
    ]
    for e, pts in paths:
        if len(pts) < 2:
            pts = [placed[e.src], placed[e.dst]]
        colour = "#b35806" if e.dashed else "#555"
        dash = ' stroke-dasharray="5,3"' if e.dashed else ""
        line = " ".join(f"{x:.1f},{y:.1f}" for x, y in pts)
        parts.append(
            f'<polyline points="{line}" fill="none" stroke="{colour}"{dash} '
            f'marker-end="url(#arrow)"/>'
        )
        if e.label:
            (ax, ay), (bx, by) = pts[len(pts) // 2 - 1], pts[len(pts) // 2]
            parts.append(
                f'<text x="{(ax + bx) / 2:.1f}" y="{(ay + by) / 2 - 3:.1f}" '
                f'text-anchor="middle" fill="#333">{html.escape(escape.terminal(e.label))}</text>'
            )
    for vid, v in d.vertices.items():
        (cx, cy), (w, h) = placed[vid], sizes[vid]
        stroke = 'stroke="#333" stroke-width="2"' if v.kind == "phase" else 'stroke="#555"'
        if v.shape == "ellipse":
            parts.append(
                f'<ellipse cx="{cx:.1f}" cy="{cy:.1f}" rx="{w / 2:.1f}" ry="{h / 2:.1f}" '
                f'fill="{v.fill}" {stroke}/>'
            )
        else:
            radius = 6 if v.shape == "box" else 1
            parts.append(
                f'<rect x="{cx - w / 2:.1f}" y="{cy - h / 2:.1f}" width="{w:.1f}" '
                f'height="{h:.1f}" rx="{radius}" fill="{v.fill}" {stroke}/>'
            )
        top = cy - (len(v.lines) - 1) * LINE_H / 2 + 3.5
        for i, text in enumerate(v.lines):
            weight = ' font-weight="bold"' if i == 0 else ""
            parts.append(
                f'<text x="{cx:.1f}" y="{top + i * LINE_H:.1f}" text-anchor="middle"'
                f"{weight}>{html.escape(escape.terminal(text))}</text>"
            )
    parts.append("</svg>")
    return "\n".join(parts)
