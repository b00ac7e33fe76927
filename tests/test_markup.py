"""The text markup: every construct, the lenient parser, and each strict error."""

from __future__ import annotations

import pytest

from tfgen import markup
from tfgen.markup import STRICT_ERRORS, Block, MarkupError

SAMPLE = """# The Fox and the Lantern
A short tale.

## Panel 1
> Night falls.
Fox: "What is that light?"
Owl: \u201cMine.\u201d
- first point
  - nested point
* star bullet
>> A quote worth pulling.
^ Say this out loud.
Plain words
that continue.
"""


def test_each_construct_parses_to_its_block():
    blocks = markup.parse(SAMPLE)
    kinds = [(b.kind, b.text) for b in blocks]
    assert kinds == [
        ("title", "The Fox and the Lantern"),
        ("paragraph", "A short tale."),
        ("heading", "Panel 1"),
        ("caption", "Night falls."),
        ("dialogue", "What is that light?"),
        ("dialogue", "Mine."),
        ("bullet", "first point"),
        ("bullet", "nested point"),
        ("bullet", "star bullet"),
        ("pullquote", "A quote worth pulling."),
        ("note", "Say this out loud."),
        ("paragraph", "Plain words that continue."),
    ]
    assert blocks[4].speaker == "Fox" and blocks[5].speaker == "Owl"
    assert [b.level for b in blocks if b.kind == "bullet"] == [0, 1, 0]
    assert blocks[2].line == 4


def test_render_then_parse_is_identity():
    blocks = markup.parse(SAMPLE)
    again = markup.parse(markup.render(blocks))
    strip = lambda bs: [(b.kind, b.text, b.speaker, b.level) for b in bs]  # noqa: E731
    assert strip(again) == strip(blocks)


def test_colon_without_quotes_is_a_paragraph():
    blocks = markup.parse("Note: bring a lamp.")
    assert [b.kind for b in blocks] == ["paragraph"]


def test_lenient_parser_skips_empty_constructs():
    blocks = markup.parse("#\n##\n-\n>\n^\nFox: \"\"\n### deep")
    assert [(b.kind, b.text) for b in blocks] == [("paragraph", 'Fox: ""'), ("heading", "deep")]


@pytest.mark.parametrize(
    "text, code",
    [
        ("#", "empty-title"),
        ("##   ", "empty-heading"),
        ("### too deep", "deep-heading"),
        ("- ", "empty-bullet"),
        (">", "empty-caption"),
        (">>", "empty-pullquote"),
        ("^", "empty-note"),
        ('Fox: "never closed', "unclosed-quote"),
        ('Fox: ""', "empty-dialogue"),
    ],
)
def test_each_strict_error(text, code):
    with pytest.raises(MarkupError) as info:
        markup.parse("fine\n" + text, strict=True)
    assert info.value.message == STRICT_ERRORS[code]
    assert info.value.where == "line 2"


def test_strict_accepts_the_sample():
    assert all(isinstance(b, Block) for b in markup.parse(SAMPLE, strict=True))
