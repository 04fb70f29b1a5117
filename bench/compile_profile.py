"""Where a compiled step spends its time, against eager: the profile behind the compile
figures in bench/results/speed.md (issue #17).

    python bench/compile_profile.py aae --threads 1

For ``train.compile`` false then true on the same spec and data: 30 warm-up steps (the
compiled engine compiles there), 60 timed steps, then 20 steps under the torch profiler,
printed as self CPU time per step of the top operators (compiled graphs show up as
``## Call CompiledFxGraph …``, their autograd wrappers as ``CompiledFunction``).
"""

from __future__ import annotations

import argparse
import json
import time

import torch
from common import REPO, add_data_root
from torch.profiler import ProfilerActivity, profile

from gan.core.data import load_data
from gan.core.resolve import resolve
from gan.core.spec import load_spec
from gan.tools.bench import make_engine


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("model", help="a shipped spec's name, e.g. aae")
    p.add_argument("--threads", type=int, default=torch.get_num_threads())
    add_data_root(p)
    p.add_argument("--top", type=int, default=14)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    for compiled in ("false", "true"):
        over = [
            f"data.root={json.dumps(str(args.data_root))}",
            "train.device=cpu",
            f"train.compile={compiled}",
        ]
        spec = load_spec(REPO / "specs" / f"{args.model}.toml", over)
        engine = make_engine(spec, torch.device("cpu"), load_data(resolve(spec)))
        for _ in range(30):
            engine.step()
        start = time.perf_counter()
        for _ in range(60):
            engine.step()
        wall = (time.perf_counter() - start) / 60
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            for _ in range(20):
                engine.step()
        events = prof.key_averages()
        total = sum(e.self_cpu_time_total for e in events) / 20 / 1000
        print(
            f"\n{args.model}, train.compile={compiled}: {1000 * wall:.2f} ms/step unprofiled; "
            f"profiled self CPU {total:.2f} ms/step ({args.threads} threads)"
        )
        for e in sorted(events, key=lambda e: -e.self_cpu_time_total)[: args.top]:
            print(
                f"  {e.key[:60]:60s} {e.self_cpu_time_total / 20 / 1000:7.3f} ms/step"
                f"  {e.count / 20:6.1f} calls/step"
            )


if __name__ == "__main__":
    main()
