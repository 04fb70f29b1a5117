"""What `gan run` shows while it trains.

On a terminal: a live display redrawn after every step (at most :data:`REDRAWS_PER_S`
times a second, so a fast model does not spend its time drawing). Its first line holds the
bar, ``step/total``, it/s and the ETA, and is laid out so that those four fit whole in 80
columns; the latest logged losses go on their own line(s) below, shortened to the width,
because a long list of loss terms must never push the step count or the ETA off the
screen. Lines printed during the run (evaluations, notices) appear above the display.

Off a terminal (CI logs, ``nohup``, pipes): one plain line per ``train.log_every`` steps,
as a live display there would only fill the log with redraws.
"""

from __future__ import annotations

import collections
import sys
import time
from typing import TYPE_CHECKING, Any, TextIO

from gan.core.hooks import hookimpl

if TYPE_CHECKING:
    from rich.console import Console, ConsoleOptions, RenderResult
    from rich.live import Live

REDRAWS_PER_S = 10
LOSS_LINES = 3  # the losses take at most this many lines; the rest is cut with "…"
BAR_MAX = 60  # a wide terminal gets a longer bar, not numbers far to the right
RATE_WINDOW = 50  # it/s over the last N redraws: follows a change of speed, not the start


def format_duration(seconds: float) -> str:
    """``0:01:05`` (hours:minutes:seconds), or ``-:--:--`` while it is unknown."""
    if seconds != seconds or seconds < 0 or seconds == float("inf"):
        return "-:--:--"
    s = round(seconds)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


def status_line(step: int, total: int, rate: float | None, width: int) -> str:
    """``train ━━━━╸━━━━  120/300  12.3 it/s  ETA 0:00:15`` in at most ``width`` columns.
    The bar takes what the numbers leave; under ~40 columns it goes, the numbers stay."""
    digits = len(str(total))
    count = f"{step:>{digits}}/{total}"
    speed = f"{rate:.1f} it/s" if rate else "-.- it/s"
    eta = format_duration((total - step) / rate if rate else float("nan"))
    numbers = f"{count}  {speed}  ETA {eta}"
    room = min(width - 1 - len("train ") - len(numbers) - 2, BAR_MAX)  # 1: no auto-wrap
    if room < 10:
        return numbers[: width - 1]
    return f"train {bar(step / max(total, 1), room)}  {numbers}"


def bar(fraction: float, width: int) -> str:
    """A bar of ``width`` cells, ``fraction`` of it filled (half cells drawn as ``╸``)."""
    fraction = min(max(fraction, 0.0), 1.0)
    halves = int(fraction * width * 2)
    full, half = divmod(halves, 2)
    return "━" * full + ("╸" if half else "") + "─" * (width - full - half)


def loss_lines(losses: dict[str, float], width: int, max_lines: int = LOSS_LINES) -> list[str]:
    """``  name=value`` items wrapped to ``width`` (less one column, so that no terminal
    wraps them again); past ``max_lines`` lines cut with ``…``."""
    width -= 1
    items = [f"{k}={v:.4g}" for k, v in losses.items()]
    lines: list[str] = []
    current = " "
    for item in items:
        if len(current) + 1 + len(item) > width and current.strip():
            lines.append(current)
            current = " "
        current += " " + item
    if current.strip():
        lines.append(current)
    lines = [line if len(line) <= width else line[: width - 1] + "…" for line in lines]
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        last = lines[-1]
        lines[-1] = (last if len(last) < width else last[: width - 1]) + "…"
    return lines


class _Display:
    """The live display's content, laid out for the console's width at each redraw."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        from rich.text import Text

        p = self.progress
        width = max(options.max_width, 20)
        yield Text(status_line(p.step, p.total, p.rate(), width), no_wrap=True, overflow="crop")
        for line in loss_lines(p.losses, width):
            yield Text(line, style="dim", no_wrap=True, overflow="crop")


class Progress:
    """Progress of a run: a live display on a terminal, plain lines otherwise, nothing
    under ``--quiet``. A callback of the trainer's events (:mod:`gan.core.hooks`)."""

    def __init__(
        self,
        total: int,
        start: int,
        quiet: bool = False,
        stream: TextIO | None = None,
        live: bool | None = None,
    ) -> None:
        self.total = total
        self.step = start
        self.quiet = quiet
        self.stream = stream or sys.stderr
        self.losses: dict[str, float] = {}
        self._times: collections.deque[tuple[float, int]] = collections.deque(maxlen=RATE_WINDOW)
        self._last_draw = 0.0
        self._log_rate: float | None = None
        self.live: Live | None = None
        if live is None:
            live = self.stream.isatty()
        if not quiet and live:
            self.live = self._start_live()

    def _start_live(self) -> Live:
        from rich.console import Console
        from rich.live import Live

        console = Console(file=self.stream)
        display = Live(_Display(self), console=console, auto_refresh=False, transient=False)
        display.start(refresh=True)
        return display

    def rate(self) -> float | None:
        """Steps per second over the recent steps (the first step, with its start-up
        cost, is left out as soon as there are others); the last logged rate before."""
        if len(self._times) >= 2:
            (t0, s0), (t1, s1) = self._times[0], self._times[-1]
            if t1 > t0 and s1 > s0:
                return (s1 - s0) / (t1 - t0)
        return self._log_rate

    def advance(self, step: int) -> None:
        """Called after every step; redraws at most :data:`REDRAWS_PER_S` times a second."""
        self.step = step
        if self.live is None:
            return
        now = time.monotonic()
        if now - self._last_draw >= 1.0 / REDRAWS_PER_S or step >= self.total:
            self._times.append((now, step))
            self._last_draw = now
            self.live.refresh()

    def log(self, step: int, values: dict[str, float], rate: float) -> None:
        """A log step: new losses on the display, or one plain line off a terminal."""
        self.step, self.losses, self._log_rate = step, values, rate
        if self.live is not None:
            self.live.refresh()
        elif not self.quiet:
            eta = format_duration((self.total - step) / rate if rate > 0 else float("nan"))
            text = " ".join(f"{k}={v:.4g}" for k, v in values.items())
            print(
                f"step {step}/{self.total} {rate:.1f} it/s ETA {eta} {text}",
                file=self.stream,
                flush=True,
            )

    def close(self) -> None:
        if self.live is not None:
            self.live.refresh()
            self.live.stop()
            self.live = None

    @hookimpl
    def gan_step_end(self, step: int) -> None:
        self.advance(step)

    @hookimpl
    def gan_log(self, step: int, losses: dict[str, Any], steps_per_s: float) -> None:
        self.log(step, losses, steps_per_s)

    @hookimpl
    def gan_train_end(self) -> None:
        self.close()


__all__ = ["Progress", "format_duration", "loss_lines", "status_line"]
