"""`gan inspect`: the resolved spec as data — networks (type, parameter count, shapes
from a dry run on a tiny batch), samplers, nodes, losses and the step plan."""

from __future__ import annotations

from typing import Any

import torch

from gan.core.engine import Engine
from gan.core.networks import count_parameters
from gan.core.resolve import ResolvedSpec
from gan.tools import escape


def _shape(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return list(value.shape)
    if isinstance(value, tuple | list):
        return [_shape(v) for v in value]
    return repr(value)


def describe(model: ResolvedSpec) -> dict[str, Any]:
    engine = Engine(model, torch.device("cpu"))
    calls: dict[str, list[dict[str, Any]]] = {name: [] for name in engine.networks}

    def recorder(name: str):
        def hook(module, args, output):
            calls[name].append({"inputs": _shape(list(args)), "output": _shape(output)})

        return hook

    handles = [net.register_forward_hook(recorder(n)) for n, net in engine.networks.items()]
    batch = 2
    c, h, w = model.context.image_shape
    sources = engine.draw_sources(
        {"x": torch.zeros(batch, c, h, w), "y": torch.zeros(batch, dtype=torch.long)}
    )
    engine.train_mode(False)
    try:
        values = engine.compute(model.graph.node_names(), sources)
    finally:
        for handle in handles:
            handle.remove()
    spec = model.spec

    networks = {}
    for name, r in model.networks.items():
        net = engine.networks[name]
        networks[name] = {
            "type": r.component.name,
            "parameters": count_parameters(net),
            "params": r.params.model_dump(mode="json"),
            "calls": calls[name],
        }
    nodes = {}
    for name in model.graph.node_names():
        call = model.graph.producer.get(name)
        if call is None:
            kind = (
                "data" if name in ("x", "y") else f"sampler '{model.samplers[name].component.name}'"
            )
            nodes[name] = {"from": kind, "depends_on": [], "shape": _shape(values[name])}
        else:
            nodes[name] = {
                "from": call.text,
                "call": call.func,
                "call_kind": "network" if call.func in model.networks else "op",
                "depends_on": list(call.inputs),
                "networks": sorted(model.graph.dep_nets[call]),
                "shape": _shape(values[name]),
            }
    losses = {
        name: {
            "type": t.component.name,
            "input": t.input,
            "target": t.target,
            **({"nodes": t.node_args} if t.node_args else {}),
        }
        for name, t in model.losses.items()
    }
    plan = []
    for ex in engine.plan(step=0):
        p = ex.phase
        plan.append(
            {
                "phase": p.name,
                "repeat": ex.repeat,
                "every": p.spec.every,
                "updates": list(p.spec.updates),
                "optimizer": {
                    "type": p.optimizer.component.name,
                    **p.optimizer.params.model_dump(mode="json"),
                },
                "losses": dict(p.terms),
                "fresh_batch": ex.fresh == "batch",
                "fresh": ex.fresh,
                "simultaneous": ex.simultaneous,
                "nodes": [
                    {
                        "node": a.call.key,
                        "action": "compute" if a.compute else "reuse",
                        "grad": sorted(a.grad_nets),
                    }
                    for a in ex.actions
                ],
            }
        )
    return {
        "name": spec.name,
        "description": spec.description,
        "spec_hash": spec.hash(),
        "data": {
            "source": spec.data.source,
            "image_shape": list(model.context.image_shape),
            "classes": model.context.num_classes,
            "batch_size": spec.train.batch_size,
            "val": spec.data.val,
            "val_pick": spec.data.val_pick,
            "val_seed": spec.data.val_seed,
        },
        "samplers": {
            n: {
                "type": r.component.name,
                **r.params.model_dump(mode="json"),
                **({"follows": f} if (f := spec.samplers[n].follows) else {}),
            }
            for n, r in model.samplers.items()
        },
        "networks": networks,
        "nodes": nodes,
        "losses": losses,
        "plan": plan,
    }


def validation_text(d: dict[str, Any]) -> str:
    """Which training examples ``[eval]`` selects on: the split that official recipes
    take from TF's reader (the first ones) reads differently from a seeded draw."""
    val = d["val"]
    if not val:
        return "none held out (data.val = 0): [eval] reads the split it names"
    share = f"{val:.2%} of the training split"
    held = f"{val:,} training examples" if isinstance(val, int) else share
    if d["val_pick"] == "first":
        return f"{held}, the first in the source's order (data.val_pick)"
    return f"{held}, drawn with data.val_seed = {d['val_seed']}"


def render(info: dict[str, Any]) -> str:
    """Human-readable text for :func:`describe`'s result."""
    out = [f"{info['name']} — {info['description']}".rstrip(" —"), ""]
    d = info["data"]
    out.append(
        f"data: {d['source']}, images {tuple(d['image_shape'])}, {d['classes']} classes, "
        f"batch {d['batch_size']}"
    )
    out.append(f"validation: {validation_text(d)}")
    out.append("")
    out.append("networks:")
    for name, n in info["networks"].items():
        out.append(f"  {name}: {n['type']}, {n['parameters']:,} parameters")
        for c, count in distinct_calls(n["calls"]):
            ins = ", ".join(str(tuple(s)) if isinstance(s, list) else str(s) for s in c["inputs"])
            out.append(f"      ({ins}) → {c['output']}" + (f"  ×{count}" if count > 1 else ""))
    out.append("")
    out.append("samplers:")
    for name, s in info["samplers"].items():
        params = ", ".join(f"{k}={v}" for k, v in s.items() if k not in ("type", "follows"))
        follows = f"; in training, the batch's {s['follows']}" if "follows" in s else ""
        out.append(f"  {name}: {s['type']}({params}){follows}")
    out.append("")
    out.append("nodes:")
    for name, n in info["nodes"].items():
        dep = f"  [networks: {', '.join(n['networks'])}]" if n.get("networks") else ""
        out.append(f"  {name:<14} = {n['from']:<24} shape {n['shape']}{dep}")
    out.append("")
    out.append("losses:")
    for name, loss in info["losses"].items():
        extra = "".join(f", {k}={v}" for k, v in loss.get("nodes", {}).items())
        out.append(
            f"  {name}: {loss['type']}(input={loss['input']}, target={loss['target']}{extra})"
        )
    out.append("")
    out.append("phases (one step):")
    for group in collapse_plan(info["plan"]):
        p = group["first"]
        times = f" ×{group['count']}" if group["count"] > 1 else ""
        sched = f"every {p['every']} step(s)"
        opt = p["optimizer"]
        terms = " + ".join(f"{w:g}·{t}" for t, w in p["losses"].items())
        out.append(
            f"  {p['phase']}{times}: updates {', '.join(p['updates'])}; {sched}"
            + "".join(f"; fresh {kind}" for kind in ("batch", "latents") if kind in group["fresh"])
        )
        out.append(f"      optimizer {opt['type']} lr={opt.get('lr')}  minimises {terms}")
        for label, nodes in group["variants"]:
            indent = "      "
            if len(group["variants"]) > 1:
                out.append(f"      {label}:")
                indent = "        "
            for a in nodes:
                grad = f" with grad for {', '.join(a['grad'])}" if a["grad"] else " (no grad)"
                what = "compute" if a["action"] == "compute" else "reuse  "
                out.append(f"{indent}{what} {a['node']}{grad if a['action'] == 'compute' else ''}")
    # names and the description are the spec's: shown, never sent to the terminal raw
    return "\n".join(escape.terminal(line) for line in out)


def distinct_calls(calls: list[dict[str, Any]]) -> list[tuple[dict[str, Any], int]]:
    """A network's calls, each distinct (input shapes, output shape) once with its count."""
    seen: dict[str, list] = {}
    for c in calls:
        key = repr((c["inputs"], c["output"]))
        seen.setdefault(key, [c, 0])[1] += 1
    return [(c, n) for c, n in seen.values()]


def collapse_plan(plan: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Consecutive executions of one phase ("critic ×5") as one group: ``first`` (the
    first execution), ``count``, ``fresh`` (what any repetition redraws: "batch",
    "latents") and
    ``variants`` — ``(label, node actions)`` for each run of repetitions that compute and
    reuse the same nodes ("repetition 1", "repetitions 2–5")."""
    groups: list[dict[str, Any]] = []
    for ex in plan:
        last = groups[-1] if groups else None
        if last is None or last["first"]["phase"] != ex["phase"] or ex["repeat"] == 0:
            last = {"first": ex, "count": 0, "fresh": set(), "runs": []}
            groups.append(last)
        last["count"] += 1
        last["fresh"].add(ex["fresh"])
        runs = last["runs"]
        if runs and runs[-1][2] == ex["nodes"]:
            runs[-1][1] = ex["repeat"]
        else:
            runs.append([ex["repeat"], ex["repeat"], ex["nodes"]])
    for g in groups:
        g["variants"] = [
            (
                f"repetition {a + 1}" if a == b else f"repetitions {a + 1}–{b + 1}",
                nodes,
            )
            for a, b, nodes in g.pop("runs")
        ]
    return groups
