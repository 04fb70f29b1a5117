"""The results stores under bench/results: reading and appending records, and
rewriting the absolute paths of records written before paths were made relative.

    python bench/records.py          # rewrite bench/results/*.json and *.jsonl in place

Records are append-only: a store is only ever extended, and a record is never edited
except by the path rewrite above, which changes no figure.
"""

from __future__ import annotations

import argparse
import fcntl
import json
from pathlib import Path

from common import RESULTS, relative_record


def read_json(store: Path) -> list[dict]:
    """The records of a JSON-array store (quality.json); none when it is absent."""
    return json.loads(store.read_text()) if store.is_file() else []


def read_jsonl(store: Path) -> list[dict]:
    """The records of a JSON-lines store (trials_<name>.jsonl)."""
    return [json.loads(line) for line in store.read_text().splitlines() if line.strip()]


def append_json(store: Path, record: dict) -> list[dict]:
    """Append one record to a JSON-array store, re-reading it under a lock: two
    benchmark processes may finish at different times and must not drop each other's.
    Returns every record of the store."""
    with open(store.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        records = read_json(store)
        records.append(relative_record(record))  # no path of the machine that ran it
        tmp = store.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(records, indent=2) + "\n")
        tmp.replace(store)
    return records


def append_jsonl(store: Path, record: dict) -> None:
    """Append one record as a line of a JSON-lines store."""
    with open(store, "a") as f:
        f.write(json.dumps(record) + "\n")


def rewrite_paths(store: Path) -> bool:
    """Rewrite a store's absolute paths relative to the repository, keeping its layout
    (indentation, one record per line). Returns whether anything changed."""
    text = store.read_text()
    if store.suffix == ".jsonl":
        lines = [json.dumps(relative_record(r)) for r in read_jsonl(store)]
        new = "".join(line + "\n" for line in lines)
    else:
        second = [*text.splitlines(), "", ""][1]
        indent = len(second) - len(second.lstrip(" ")) or 2  # the store's own indentation
        new = json.dumps(relative_record(json.loads(text)), indent=indent) + "\n"
    if new == text:
        return False
    store.write_text(new)
    return True


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=RESULTS, help="the results folder")
    args = p.parse_args(argv)
    for store in sorted([*args.out.glob("*.json"), *args.out.glob("*.jsonl")]):
        if rewrite_paths(store):
            print(f"rewrote {store.name}")


if __name__ == "__main__":
    main()
