"""Render speed: a 20-page magazine and a 30-slide deck, to PDF and PPTX (prints measured seconds).

    python benchmarks/bench_render.py [--repeat 3]

Layout (compose) and drawing (backend) are timed apart; the figure to hold under 2 s is their
sum. The documents are built from the examples' pictures, so nothing is downloaded.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE.parent / "examples"))

from make_examples import image  # noqa: E402

from tfgen.document import Document, TextSegment  # noqa: E402
from tfgen.layout.compose import compose  # noqa: E402
from tfgen.render import render_bytes  # noqa: E402

PARAGRAPH = (
    "Foxes are at home almost everywhere people live. They hunt at dusk, sleep through the bright "
    "hours and learn the habits of a neighbourhood within weeks. Naturalists who follow them with "
    "lanterns and notebooks describe animals that are curious rather than shy."
)
SCENES = ("forest", "light", "owl", "dawn", "chart", "dial")


def magazine_doc(sections: int) -> Document:
    segments = [TextSegment("# Night Walkers\n\nA field guide to the animals that own the dark."), image("forest", "cover")]
    for i in range(sections):
        body = "\n\n".join([PARAGRAPH] * 4)
        segments.append(TextSegment(f"## Section {i + 1}\n\n{body}"))
        segments.append(image(SCENES[i % len(SCENES)], f"picture {i + 1}"))
        segments.append(TextSegment(f"> Caption for picture {i + 1}.\n\n>> A pull quote for section {i + 1}.\n\n{body}"))
    return Document(segments, kind="magazine", title="Night Walkers")


def deck_doc(slides: int) -> Document:
    segments = [TextSegment("# Lanterns for Everyone\n\nA plan for a brighter forest path")]
    for i in range(slides - 2):  # the composer adds the title and closing slides
        if i % 3 == 2:
            segments.append(TextSegment(f"## Picture slide {i + 1}"))
            segments.append(image(SCENES[i % len(SCENES)], f"picture {i + 1}"))
            segments.append(TextSegment("- One lantern every fifty steps\n- Extra light at the bridge\n\n^ Point at the map."))
        else:
            bullets = "\n".join(f"- Point {j + 1} about lanterns and paths" for j in range(5))
            segments.append(TextSegment(f"## Slide {i + 1}\n\n{bullets}\n\n^ Notes for slide {i + 1}."))
    return Document(segments, kind="deck", title="Lanterns for Everyone")


def sized(make, kind: str, pages: int, target: str):
    """Grow the document until its layout has at least `pages` pages; return doc and page count."""
    n = 1
    while True:
        doc = make(n)
        count = len(compose(doc, kind, target=target).pages)
        if count >= pages:
            return doc, count
        n += max(1, (pages - count) // 2)


def bench(doc: Document, kind: str, fmt: str, repeat: int) -> tuple[float, float, int, int]:
    layout_times, render_times = [], []
    for _ in range(repeat):
        t0 = time.perf_counter()
        layout = compose(doc, kind, target=fmt)
        t1 = time.perf_counter()
        data = render_bytes(layout, fmt)
        t2 = time.perf_counter()
        layout_times.append(t1 - t0)
        render_times.append(t2 - t1)
    return statistics.median(layout_times), statistics.median(render_times), len(layout.pages), len(data)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass
    # One warm-up render so font registration and imports are not counted.
    render_bytes(compose(deck_doc(1), "deck", target="pdf"), "pdf")
    print(f"{'document':<22} {'format':<6} {'pages':>5} {'layout s':>9} {'render s':>9} {'total s':>8} {'MB':>6}")
    for kind, make, pages in (("magazine", magazine_doc, 20), ("deck", deck_doc, 30)):
        for fmt in ("pdf", "pptx"):
            doc, _ = sized(make, kind, pages, fmt)
            lay_s, ren_s, n, size = bench(doc, kind, fmt, args.repeat)
            print(f"{kind:<22} {fmt:<6} {n:>5} {lay_s:>9.3f} {ren_s:>9.3f} {lay_s + ren_s:>8.3f} {size / 1e6:>6.2f}")


if __name__ == "__main__":
    main()
