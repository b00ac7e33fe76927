"""Text made ready to lay out: template font keys resolved for the output format, and each text's
face (with a warning for characters no face has)."""

from __future__ import annotations

from tfgen.errors import TfgenError
from tfgen.layout import fallback, fonts
from tfgen.layout.templates import Template


def template_font(t: Template, key: str, default: str, target: str) -> str:
    """The font key at template `key`, mapped for `target` (PPTX gets metric-compatible faces)."""
    value = t.get(key, str, default=default)
    try:
        return fonts.for_target(value, target)
    except TfgenError as exc:
        raise t.error(key, exc.message) from None


def prepared(text: str, font: str, warnings: list[str]) -> tuple[str, str]:
    """(face key, text to draw) for `text` in `font`; a new fallback warning is appended once."""
    key, safe, warning = fallback.prepare_text(text, font)
    if warning and warning not in warnings:
        warnings.append(warning)
    return key, safe
