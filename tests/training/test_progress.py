"""`gan run`'s progress: the live display in a real pseudo-terminal (80 and 160 columns,
read back through a terminal emulator), its layout, and plain lines off a terminal."""

from __future__ import annotations

import io
import os
import re
import sys
import time

import pexpect
import pyte
import pytest

from gan.training.progress import Progress, format_duration, loss_lines, status_line

# bar, step/total, it/s and an ETA of h:mm:ss, on one screen line
STATUS = re.compile(r"train [━╸─]{10,}\s+(\d+)/(\d+)\s+\d+\.\d it/s\s+ETA \d+:\d\d:\d\d")
MANY_LOSSES = {f"phase{i}/some_long_loss_term_{i}": 1.0 / (i + 1) for i in range(12)}


@pytest.mark.parametrize("width", [80, 160])
def test_status_line_keeps_bar_step_rate_and_eta_whole(width):
    line = status_line(1200, 30000, 12.0, width)
    assert len(line) < width
    assert STATUS.fullmatch(line), line
    assert " 1200/30000 " in line and "ETA 0:40:00" in line


def test_losses_are_wrapped_and_cut_to_the_width():
    lines = loss_lines(MANY_LOSSES, 80, max_lines=2)
    assert len(lines) == 2
    assert all(len(line) < 80 for line in lines)
    assert lines[-1].endswith("…")  # 12 long terms do not fit in two lines
    assert "phase0/some_long_loss_term_0=1" in lines[0]


def test_durations():
    assert format_duration(65) == "0:01:05"
    assert format_duration(3 * 3600 + 7) == "3:00:07"
    assert format_duration(float("nan")) == "-:--:--"


def test_off_a_terminal_one_plain_line_per_log_step():
    stream = io.StringIO()
    progress = Progress(total=10, start=0, stream=stream)
    for step in range(1, 11):
        progress.advance(step)  # every step: nothing written off a terminal
        if step % 5 == 0:
            progress.log(step, {"d/adv": 0.5}, 20.0)
    progress.close()
    lines = stream.getvalue().splitlines()
    assert lines == [
        "step 5/10 20.0 it/s ETA 0:00:00 d/adv=0.5",
        "step 10/10 20.0 it/s ETA 0:00:00 d/adv=0.5",
    ]


def watch(child: pexpect.spawn, columns: int, seconds: float = 60) -> list[str]:
    """Feed the child's output to a terminal emulator of ``columns`` columns until a
    status line of a run in progress is on its screen; the lines that matched."""
    screen = pyte.Screen(columns, 24)
    stream = pyte.ByteStream(screen)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            stream.feed(child.read_nonblocking(65536, timeout=1))
        except pexpect.TIMEOUT:
            continue
        except pexpect.EOF:
            break
        seen = [line for line in screen.display if (m := STATUS.search(line)) and m[1] != "0"]
        if seen:
            return seen
    raise AssertionError("no live status line; the screen:\n" + "\n".join(screen.display))


def test_live_display_in_a_terminal_of_160_then_80_columns(tmp_path):
    """The display is drawn from the first steps on (not only at log steps: the log
    interval is longer than the run), whole at 160 columns and, after the terminal is
    narrowed, at 80."""
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    env.update(TERM="xterm", OMP_NUM_THREADS="1")
    args = ["-m", "gan", "run", "bigan", "--out", str(tmp_path / "run")]
    sets = [
        "data.source=digits",
        "data.limit=256",
        "train.steps=100000",
        "train.batch_size=8",
        "train.log_every=100000",
        "eval={}",
    ]
    for item in sets:
        args += ["--set", item]
    child = pexpect.spawn(sys.executable, args, env=env, dimensions=(24, 160), timeout=5)
    try:
        for columns in (160, 80):
            child.setwinsize(24, columns)
            seen = watch(child, columns)
            assert len(seen[0].rstrip()) < columns
            assert "/100000" in seen[0]
            step = int(STATUS.search(seen[0])[1])  # type: ignore[index]
            assert 0 < step < 100000
    finally:
        child.terminate(force=True)
