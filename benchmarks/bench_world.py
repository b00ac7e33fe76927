"""Storyworld speed on one core: annotated scenes per second, and documents per second.

    python benchmarks/bench_world.py [--size 128] [--scenes 3000] [--docs 300]

Prints wall-clock and CPU-time rates (CPU time is the fairer figure on a shared machine).
The goal is >= 300 annotated 128x128 scenes per second on one core.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tfgen.world.documents import WORLD_KINDS, iter_documents  # noqa: E402
from tfgen.world.sampling import SceneSampler  # noqa: E402
from tfgen.world.stream import SceneStream  # noqa: E402


def _rate(label: str, n: int, fn) -> None:
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(f"{label:<44} {n / wall:8.1f}/s wall   {n / cpu:8.1f}/s cpu   ({n} in {wall:.2f} s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--scenes", type=int, default=3000)
    parser.add_argument("--docs", type=int, default=300)
    args = parser.parse_args()
    sampler = SceneSampler()
    rng = random.Random(0)
    for _ in range(500):  # warm the sprite and background caches, as a long run would be
        sampler.scene(rng, args.size)
    _rate(f"annotated {args.size}px scenes (composer)", args.scenes,
          lambda: [sampler.scene(rng, args.size) for _ in range(args.scenes)])
    stream = SceneStream(seed=1, image_size=args.size, sampler=sampler)
    _rate(f"stream.batch: scenes + captions ({args.size}px)", args.scenes, lambda: stream.batch(args.scenes))
    for kinds in (("caption",), WORLD_KINDS):
        docs = iter_documents(2, kinds, args.size, sampler=sampler)
        _rate(f"documents {'+'.join(kinds)} as JSON (PNG inside)", args.docs,
              lambda: [next(docs).to_json() for _ in range(args.docs)])


if __name__ == "__main__":
    main()
