"""The detector's training batches, each a pure function of its step, rendered ahead in worker processes.

Step k's batch holds the scenes at stream positions start + (k - 1) * B ... start + k * B - 1, and its
augmentations draw from an RNG seeded by (seed, k). So the batches are the same whether the trainer
renders them itself or W workers do (worker i renders the steps k with (k - 1) % W == i, in order),
and a run that continues another (`start`) never repeats a scene. Rendering (Pillow, numpy) is about
half of a training step on one CPU thread; a worker on another core takes it off the critical path.
"""

from __future__ import annotations

import multiprocessing as mp
import queue as queue_lib
import random
from collections.abc import Iterator
from typing import Any

from tfgen.eval.detector_train import DetectorTrainConfig, Rendered, TrainingScenes, render_batch
from tfgen.world.heldout import load_heldout
from tfgen.world.sampling import SceneSampler


def scene_stream(cfg: DetectorTrainConfig) -> TrainingScenes:
    """The config's scene stream; render_step moves it to each step's scenes."""
    heldout = load_heldout()
    sampler = SceneSampler(heldout=heldout.nothing_held_out() if cfg.whole_world else heldout)
    return TrainingScenes(cfg.seed, cfg.character_share, cfg.alone_share, cfg.recolour_share, cfg.hard_share,
                          cfg.crowd_share, cfg.tight_crowd_share, sampler=sampler)


def render_step(scenes: TrainingScenes, cfg: DetectorTrainConfig, start: int, step: int) -> Rendered:
    """Step `step`'s batch (1-based): images (B, H, W, 3) uint8, annotations, colour-known flags."""
    scenes.position = start + (step - 1) * cfg.batch_size
    return render_batch(scenes, cfg.batch_size, random.Random(f"tfgen-detector-aug:{cfg.seed}:{step}"), cfg)


def _produce(cfg: DetectorTrainConfig, start: int, steps: range, queue: Any) -> None:
    scenes = scene_stream(cfg)
    for step in steps:
        queue.put(render_step(scenes, cfg, start, step))


class TrainingBatches:
    """Iterate over steps first..last's rendered batches; `workers` 0 renders in this process.

    Use as a context manager so worker processes end with the run, however it ends.
    """

    def __init__(self, cfg: DetectorTrainConfig, start: int, first: int, last: int, workers: int = 0):
        self.cfg, self.start, self.first, self.last, self.workers = cfg, start, first, last, workers
        self._procs: list[Any] = []
        self._queues: list[Any] = []

    def __enter__(self) -> "TrainingBatches":
        ctx = mp.get_context("spawn")  # never fork a process that holds torch's thread pools
        for i in range(self.workers):
            queue = ctx.Queue(maxsize=2)
            steps = range(self.first + i, self.last + 1, self.workers)
            proc = ctx.Process(target=_produce, args=(self.cfg, self.start, steps, queue), daemon=True)
            proc.start()
            self._procs.append(proc)
            self._queues.append(queue)
        return self

    def __exit__(self, *exc: object) -> None:
        for proc in self._procs:
            proc.terminate()
            proc.join()
        for queue in self._queues:
            queue.close()
            queue.cancel_join_thread()

    def __iter__(self) -> Iterator[tuple[int, Rendered]]:
        if not self.workers:
            scenes = scene_stream(self.cfg)
            for step in range(self.first, self.last + 1):
                yield step, render_step(scenes, self.cfg, self.start, step)
            return
        for step in range(self.first, self.last + 1):
            i = (step - self.first) % self.workers
            while True:
                try:
                    rendered = self._queues[i].get(timeout=5.0)
                    break
                except queue_lib.Empty as exc:  # wait on, unless the worker died
                    proc = self._procs[i]
                    if not proc.is_alive():
                        raise RuntimeError(f"detector batch worker ended (exit code {proc.exitcode})") from exc
            yield step, rendered
