"""Steering generation to a kind's shape: a plan of forced markup and free slots, and the text
clean-up that keeps whatever the model writes inside the strict markup.

A plan is a list of steps the generation loop (tfgen.sampling.generate) walks:
- Unit(optional): the start of a panel, slide or section. An optional unit is written only while
  it fits the context and the caller's page count says more is wanted (magazines).
- Force(text): markup tokens fed as if the model wrote them ("#", "\n\n##").
- Line(max_tokens, fallback): free text up to the end of the line (a title or a heading); its first
  token must be a space-led word (see below); if the model writes nothing usable, " " + the
  fallback text is forced instead.

Why the markup is forced without its trailing space: byte-level BPE spells "# All About Apples" as
"#", " All", " About", " Apples". Forcing "# " feeds a lone " " token that training never put before
a word, and the model then tends to lose or garble the title's first word ("'s Long Day", "in Ten
Minutes"). Forcing "#" and letting the model choose a space-led word keeps it on familiar ground.
- Body(max_tokens, image): free text that ends at EOS, at a line that would start a heading, or at
  its budget. image "required": exactly one image (the model's own BOI, else one forced at the
  end); "allowed": at most one, when the model asks; "free": any number (kind none).

Shapes: comic = title, then N panels of heading + body with one required image. Deck = title,
then N slides of heading + body (image allowed). Magazine = title, then sections of heading + body
with a required image: with a page counter (the composer), one section per page is required and
up to MAX_SECTIONS_PER_PAGE per page are optional, written until the layout fills the pages;
without one, SECTIONS_PER_PAGE per page (an estimate: a lead image and about a column of text per
section). Kind "none", and any kind with forcing switched off, is one free body: the model writes
until EOS or a limit and nothing is forced.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Union

from tfgen import markup

DEFAULT_COUNT = {"comic": 4, "deck": 5, "magazine": 1}
SECTIONS_PER_PAGE = 2
MAX_SECTIONS_PER_PAGE = 4
UNIT_NAMES = {"comic": "Panel", "deck": "Slide", "magazine": "Section"}
BODY_TOKENS = {"comic": 48, "deck": 64, "magazine": 96}
TITLE_TOKENS, HEADING_TOKENS = 12, 8


@dataclass(frozen=True)
class Unit:
    optional: bool = False


@dataclass(frozen=True)
class Force:
    text: str


@dataclass(frozen=True)
class Line:
    max_tokens: int
    fallback: str


@dataclass(frozen=True)
class Body:
    max_tokens: int
    image: str  # "required", "allowed", "none" or "free"
    stop_at_heading: bool = True


Step = Union[Unit, Force, Line, Body]


def units_for(kind: str, count: int | None) -> int:
    """Headings the plan forces: panels, slides, or sections for the magazine's pages."""
    n = count if count is not None else DEFAULT_COUNT.get(kind, 0)
    return n * SECTIONS_PER_PAGE if kind == "magazine" else n


def build_plan(kind: str, count: int | None, prompt: str, max_tokens: int | None = None,
               fill_pages: bool = False, forced: bool = True) -> list[Step]:
    """The steps for `kind` (see the module docstring); `fill_pages`: magazine sections until the pages fill.

    `forced=False` switches structure forcing off: one free body whatever the kind.
    """
    if kind not in UNIT_NAMES or not forced:
        return [Body(max_tokens if max_tokens is not None else 1 << 30, "free", stop_at_heading=False)]
    plan: list[Step] = [Force("#"), Line(TITLE_TOKENS, fallback_title(prompt))]
    image = "allowed" if kind == "deck" else "required"
    required = units_for(kind, count)
    total = required
    if kind == "magazine" and fill_pages:
        pages = count if count is not None else DEFAULT_COUNT[kind]
        required, total = pages, pages * MAX_SECTIONS_PER_PAGE
    for i in range(1, total + 1):
        plan += [Unit(optional=i > required), Force("\n\n##"), Line(HEADING_TOKENS, f"{UNIT_NAMES[kind]} {i}"),
                 Force("\n\n"), Body(BODY_TOKENS[kind], image)]
    return plan


def fallback_title(prompt: str) -> str:
    """A title from the prompt's first words, for when the model writes none."""
    words = re.sub(r"\s+", " ", prompt).strip().split(" ")[:8]
    text = " ".join(words).strip(" #>^-*")
    return (text[:1].upper() + text[1:]) if text else "Untitled"


# --- keeping free text inside the markup ------------------------------------------------------

_LEAD = " #>^*-"
# Control characters (and the ones str.splitlines() treats as line breaks) would break lines or
# renderers: each becomes a space; only "\n" and "\t" stay.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")


def strip_control(text: str) -> str:
    return _CONTROL.sub(" ", text)


def starts_heading(text: str, from_line: int) -> bool:
    """True when a line at or after `from_line` of `text` would start a '#' title or heading."""
    return any(line.lstrip().startswith("#") for line in text.split("\n")[from_line:])


def clean_line(text: str) -> str:
    """A title or heading line: one line, no leading markup characters."""
    return text.split("\n")[0].strip().lstrip(_LEAD).strip()


def sanitize_body(text: str) -> str:
    """Body text with every line that fails the strict markup parser repaired or dropped.

    Repairs: leading markup characters stripped ('###', an empty '-', '>' or '^'), an unclosed
    dialogue quote closed. A line still failing after that is dropped. Headings never survive
    here: a body that would start one ends before it (see Body.stop_at_heading).
    """
    out = []
    for line in text.split("\n"):
        fixed = _repair(line)
        if fixed is not None:
            out.append(fixed)
    return "\n".join(out).strip("\n")


def _repair(line: str) -> str | None:
    for candidate in (line, line.lstrip(_LEAD), line.lstrip(_LEAD) + '"'):
        if candidate.lstrip().startswith("#"):
            continue
        try:
            markup.parse(candidate, strict=True)
        except markup.MarkupError:
            continue
        return candidate
    return None
