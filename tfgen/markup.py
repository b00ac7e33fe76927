"""tfgen's markup for text segments: a small Markdown subset the model writes and people can type.

One line kind per construct, decided by how the line starts:

    # Title                      the document title (one per document; magazines may hold several articles)
    ## Heading                   starts a panel (comic), a slide (deck) or a section (magazine)
    - bullet / * bullet          a bullet; two leading spaces per nesting level
    Fox: "Where does it go?"     dialogue: a speaker (1-4 words, capitalised) and a quoted line -> speech balloon
    > caption                    a caption (a comic caption box, a figure caption under the image before it)
    >> pull quote                a pull quote (magazine)
    ^ speaker note               a speaker note (deck); never shown on the slide
    anything else                paragraph text; consecutive lines join, a blank line ends a paragraph

`parse(text)` is lenient and never fails: it is what the renderers use. `parse(text, strict=True)`
raises MarkupError on the first construct that is malformed; the list of those errors is
`STRICT_ERRORS`, and the README repeats it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tfgen.errors import DocumentError


class MarkupError(DocumentError):
    """Malformed markup found by the strict parser."""


@dataclass(frozen=True)
class Block:
    """One parsed construct. `kind` is one of BLOCK_KINDS; `speaker` is set for dialogue only."""

    kind: str
    text: str
    speaker: str = ""
    level: int = 0
    line: int = 0


BLOCK_KINDS = ("title", "heading", "paragraph", "bullet", "dialogue", "caption", "pullquote", "note")

# Each strict error: its code and the message the parser raises.
STRICT_ERRORS = {
    "empty-title": "a '#' title with no text",
    "empty-heading": "a '##' heading with no text",
    "deep-heading": "headings deeper than '##' are not part of the markup",
    "empty-bullet": "a bullet with no text",
    "empty-caption": "a caption ('>') with no text",
    "empty-pullquote": "a pull quote ('>>') with no text",
    "empty-note": "a speaker note ('^') with no text",
    "unclosed-quote": "dialogue whose quoted line is not closed",
    "empty-dialogue": "dialogue with nothing between the quotes",
}

_DIALOGUE = re.compile(r"^(?P<speaker>[A-Z][\w'\-]*(?: [\w'\-]+){0,3}):\s*[\"\u201c](?P<text>.*?)[\"\u201d]\s*$")
_DIALOGUE_OPEN = re.compile(r"^[A-Z][\w'\-]*(?: [\w'\-]+){0,3}:\s*[\"\u201c]")
_BULLET = re.compile(r"^(?P<indent> *)[-*] +(?P<text>.*)$")
_BULLET_BARE = re.compile(r"^ *[-*]$")


def parse(text: str, strict: bool = False, first_line: int = 1) -> list[Block]:
    """Parse markup into blocks in reading order."""
    blocks: list[Block] = []
    para: list[str] = []
    para_line = 0

    def flush() -> None:
        nonlocal para
        if para:
            blocks.append(Block("paragraph", " ".join(para), line=para_line))
            para = []

    for offset, raw in enumerate(text.splitlines()):
        lineno = first_line + offset
        line = raw.rstrip()
        stripped = line.strip()
        if not stripped:
            flush()
            continue
        block = _parse_line(line, stripped, lineno, strict)
        if block is None:
            if not para:
                para_line = lineno
            para.append(stripped)
            continue
        flush()
        if block.text:
            blocks.append(block)
    flush()
    return blocks


def _fail(code: str, lineno: int) -> MarkupError:
    return MarkupError(STRICT_ERRORS[code], where=f"line {lineno}")


def _parse_line(line: str, stripped: str, lineno: int, strict: bool) -> Block | None:
    """One line to a block, or None when it is paragraph text."""
    if stripped.startswith("#"):
        hashes = len(stripped) - len(stripped.lstrip("#"))
        body = stripped[hashes:].strip()
        if hashes == 1:
            if strict and not body:
                raise _fail("empty-title", lineno)
            return Block("title", body, line=lineno)
        if strict and hashes > 2:
            raise _fail("deep-heading", lineno)
        if strict and not body:
            raise _fail("empty-heading", lineno)
        return Block("heading", body, level=hashes - 1, line=lineno)
    if stripped.startswith(">>"):
        body = stripped[2:].strip()
        if strict and not body:
            raise _fail("empty-pullquote", lineno)
        return Block("pullquote", body, line=lineno)
    if stripped.startswith(">"):
        body = stripped[1:].strip()
        if strict and not body:
            raise _fail("empty-caption", lineno)
        return Block("caption", body, line=lineno)
    if stripped.startswith("^"):
        body = stripped[1:].strip()
        if strict and not body:
            raise _fail("empty-note", lineno)
        return Block("note", body, line=lineno)
    bullet = _BULLET.match(line)
    if bullet or _BULLET_BARE.match(line):
        body = bullet.group("text").strip() if bullet else ""
        if strict and not body:
            raise _fail("empty-bullet", lineno)
        level = len(bullet.group("indent")) // 2 if bullet else 0
        return Block("bullet", body, level=level, line=lineno)
    dialogue = _DIALOGUE.match(stripped)
    if dialogue:
        body = dialogue.group("text").strip()
        if not body:
            if strict:
                raise _fail("empty-dialogue", lineno)
            return None
        return Block("dialogue", body, speaker=dialogue.group("speaker"), line=lineno)
    if strict and _DIALOGUE_OPEN.match(stripped):
        raise _fail("unclosed-quote", lineno)
    return None


def render(blocks: list[Block]) -> str:
    """Blocks back to markup text (the inverse of `parse` up to whitespace)."""
    lines: list[str] = []
    prefix = {"title": "# ", "caption": "> ", "pullquote": ">> ", "note": "^ "}
    for block in blocks:
        if block.kind == "heading":
            lines.append("#" * (block.level + 1) + " " + block.text)
        elif block.kind == "bullet":
            lines.append("  " * block.level + "- " + block.text)
        elif block.kind == "dialogue":
            lines.append(f'{block.speaker}: "{block.text}"')
        elif block.kind == "paragraph":
            lines.append(block.text)
        else:
            lines.append(prefix[block.kind] + block.text)
        lines.append("")
    return "\n".join(lines).rstrip() + "\n" if lines else ""
