"""A rich progress display on stderr: step, loss, LM loss, image loss, tokens/s and ETA.

Only rank 0 shows it. The figures arrive every `log_every` steps (the only points where the
trainer waits for the device), so the display never forces a host sync of its own.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn


@dataclass(frozen=True)
class StepFigures:
    """Averages over the steps since the previous report."""

    step: int  # updates done
    loss: float
    lm: float
    image: float
    tokens_per_s: float
    samples_per_s: float
    lr: float


class TrainProgress:
    """Context manager around rich.Progress; `report()` updates it, `note()` prints a line above it."""

    def __init__(self, total_steps: int, start_step: int = 0, enabled: bool = True, console: Console | None = None):
        self.enabled = enabled
        self.total_steps = total_steps
        self.console = console or Console(stderr=True, highlight=False)
        self.last: StepFigures | None = None
        self.history: list[StepFigures] = []
        self._started = time.perf_counter()
        self._progress = Progress(
            TextColumn("[bold]train"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]}  lm {task.fields[lm]}  img {task.fields[image]}"),
            TextColumn("{task.fields[tps]} tok/s  lr {task.fields[lr]}"),
            TimeRemainingColumn(),
            console=self.console,
            disable=not (enabled and self.console.is_terminal),
        )
        self._task = self._progress.add_task("train", total=total_steps, completed=start_step,
                                             loss="-", lm="-", image="-", tps="-", lr="-")

    def __enter__(self) -> "TrainProgress":
        self._progress.start()
        return self

    def __exit__(self, *exc) -> None:
        self._progress.stop()

    def report(self, figures: StepFigures) -> None:
        self.last = figures
        self.history.append(figures)
        self._progress.update(
            self._task, completed=figures.step, loss=f"{figures.loss:.4f}", lm=f"{figures.lm:.4f}",
            image=f"{figures.image:.4f}", tps=f"{figures.tokens_per_s:,.0f}", lr=f"{figures.lr:.2e}")
        if not self.console.is_terminal and self.enabled:
            # Logs and CI: one plain line per report instead of a redrawn bar.
            self.console.print(
                f"step {figures.step}/{self.total_steps} loss {figures.loss:.4f} lm {figures.lm:.4f} "
                f"image {figures.image:.4f} {figures.tokens_per_s:,.0f} tok/s {figures.samples_per_s:,.1f} "
                f"seq/s lr {figures.lr:.2e}", soft_wrap=True)

    def note(self, message: str) -> None:
        if self.enabled:
            self._progress.console.print(message)
