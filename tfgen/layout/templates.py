"""Templates: data only (TOML or JSON), found by name under templates/<kind>/ or given as a path.

A template is never executed: it is parsed with tomllib/json and read through typed getters that
raise TemplateError naming the file and the dotted key (`page.gutter`) when a value is missing or
has the wrong type. Each composer passes the keys it understands to `Template.check_keys`, so a
misspelt key is an error ("unknown key 'gutterr'"), not silently ignored.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from tfgen.errors import TemplateError
from tfgen.resources import templates_dir

try:  # Python 3.11+
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

DEFAULT_TEMPLATE = "default"
KINDS = ("comic", "magazine", "deck")
SUFFIXES = (".toml", ".json")
_COLOR = re.compile(r"^#[0-9A-Fa-f]{6}$")
_MISSING = object()
_TYPE_NAMES = {float: "a number", int: "an integer", str: "a string", bool: "true or false", list: "a list", dict: "a table"}


def templates_root() -> Path:
    """The shipped templates folder (package data once installed, `templates/` in a checkout)."""
    return templates_dir()


def list_templates(kind: str) -> list[str]:
    """Names of the shipped templates for `kind`, sorted."""
    folder = templates_root() / kind
    if not folder.is_dir():
        return []
    return sorted({p.stem for p in folder.iterdir() if p.suffix in SUFFIXES and p.is_file()})


@dataclass
class Template:
    """A parsed template: `name`, where it came from (`source`) and its raw `data`."""

    name: str
    kind: str
    data: dict[str, Any]
    source: str = ""

    # --- errors -------------------------------------------------------------------------------

    def error(self, key: str, message: str) -> TemplateError:
        return TemplateError(message, where=f"template {self.source or self.name}, key '{key}'")

    def check_keys(self, allowed: Iterable[str]) -> None:
        """Reject keys not in `allowed` (dotted paths; a listed table accepts anything inside it
        only if none of its sub-keys are listed)."""
        allowed = set(allowed)
        self._check_table(self.data, "", allowed)

    def _check_table(self, table: dict[str, Any], prefix: str, allowed: set[str]) -> None:
        for key, value in table.items():
            path = f"{prefix}{key}"
            has_children = any(a.startswith(path + ".") for a in allowed)
            if path not in allowed and not has_children:
                raise self.error(path, f"unknown key '{key}'")
            if has_children:
                if not isinstance(value, dict):
                    raise self.error(path, f"must be a table, got {_describe(value)}")
                self._check_table(value, path + ".", allowed)

    # --- typed getters ------------------------------------------------------------------------

    def _lookup(self, key: str) -> Any:
        node: Any = self.data
        for part in key.split("."):
            if not isinstance(node, dict) or part not in node:
                return _MISSING
            node = node[part]
        return node

    def get(self, key: str, kind: type, default: Any = _MISSING, minimum: float | None = None, maximum: float | None = None) -> Any:
        """The value at dotted `key`, checked to be of type `kind` (float accepts integers)."""
        value = self._lookup(key)
        if value is _MISSING:
            if default is _MISSING:
                raise self.error(key, "missing key")
            return default
        value = self._coerce(key, value, kind)
        if kind in (int, float):
            if minimum is not None and value < minimum:
                raise self.error(key, f"must be at least {minimum:g}, got {value:g}")
            if maximum is not None and value > maximum:
                raise self.error(key, f"must be at most {maximum:g}, got {value:g}")
        return value

    def _coerce(self, key: str, value: Any, kind: type) -> Any:
        ok = isinstance(value, kind) and not (kind in (int, float) and isinstance(value, bool))
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value, ok = float(value), True
        if not ok:
            raise self.error(key, f"must be {_TYPE_NAMES.get(kind, kind.__name__)}, got {_describe(value)}")
        if kind is float and not math.isfinite(value):
            raise self.error(key, f"must be a finite number, got {value}")
        return value

    def get_color(self, key: str, default: Any = _MISSING) -> Any:
        """A colour "#RRGGBB" (returned upper-case); `default` may be None for "no colour"."""
        value = self._lookup(key)
        if value is _MISSING:
            if default is _MISSING:
                raise self.error(key, "missing key")
            return default
        if not isinstance(value, str) or not _COLOR.match(value):
            raise self.error(key, f'must be a colour "#RRGGBB", got {_describe(value)}')
        return value.upper()

    def get_choice(self, key: str, choices: Iterable[str], default: Any = _MISSING) -> str:
        choices = tuple(choices)
        value = self.get(key, str, default)
        if value not in choices:
            raise self.error(key, f"must be one of {', '.join(repr(c) for c in choices)}, got {_describe(value)}")
        return value

    def get_list(self, key: str, item_type: type, default: Any = _MISSING, min_len: int = 0) -> list[Any]:
        """A list whose items all have `item_type` (float accepts integers)."""
        value = self.get(key, list, default)
        if len(value) < min_len:
            raise self.error(key, f"needs at least {min_len} item(s), got {len(value)}")
        return [self._coerce(f"{key}[{i}]", item, item_type) for i, item in enumerate(value)]


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


# --- loading ----------------------------------------------------------------------------------


def parse_template(kind: str, text: str, fmt: str, name: str = "<template>", source: str = "") -> Template:
    """Parse template text (`fmt` "toml" or "json") into a Template; malformed data is a TemplateError."""
    where = f"template {source or name}"
    try:
        if fmt == "toml":
            data = tomllib.loads(text)
        elif fmt == "json":
            data = json.loads(text, parse_constant=_reject_constant)
        else:
            raise TemplateError(f"unknown template format {fmt!r} (toml or json)", where=where)
    except tomllib.TOMLDecodeError as exc:
        raise TemplateError(f"malformed TOML ({exc})", where=where) from None
    except json.JSONDecodeError as exc:
        raise TemplateError(f"malformed JSON ({exc.msg}, line {exc.lineno}, column {exc.colno})", where=where) from None
    except (ValueError, RecursionError) as exc:
        raise TemplateError(f"malformed {fmt.upper()} ({exc})", where=where) from None
    if not isinstance(data, dict):
        raise TemplateError("a template must be a table/object at the top level", where=where)
    return Template(name=name, kind=kind, data=data, source=source or name)


def _reject_constant(token: str) -> Any:
    raise ValueError(f"{token} is not allowed")


def _resolve(kind: str, name_or_path: str) -> Path:
    """The file for a template name (shipped) or path (the user's own)."""
    looks_like_path = any(sep in name_or_path for sep in ("/", "\\")) or name_or_path.endswith(SUFFIXES)
    try:
        path = Path(name_or_path)
        if looks_like_path or path.is_file():
            if not path.is_file():
                raise TemplateError("template file not found", where=name_or_path)
            return path
        for suffix in SUFFIXES:
            candidate = templates_root() / kind / (name_or_path + suffix)
            if candidate.is_file():
                return candidate
    except (OSError, ValueError):  # e.g. a NUL byte or a name too long for the file system
        raise TemplateError("not a usable template name or path", where=repr(name_or_path)) from None
    available = ", ".join(list_templates(kind)) or "none"
    raise TemplateError(f"unknown {kind} template {name_or_path!r} (available: {available})", where="--template")


def load_template(kind: str, name_or_path: str | None = None, allowed_keys: Iterable[str] | None = None) -> Template:
    """Load a template by shipped name (default "default") or file path; check keys if given."""
    if kind not in KINDS:
        raise TemplateError(f"unknown kind {kind!r} (one of {', '.join(KINDS)})", where="kind")
    path = _resolve(kind, name_or_path or DEFAULT_TEMPLATE)
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise TemplateError("not UTF-8 text", where=str(path)) from None
    except OSError as exc:
        raise TemplateError(f"cannot read ({exc.strerror})", where=str(path)) from None
    fmt = "json" if path.suffix == ".json" else "toml"
    template = parse_template(kind, text, fmt, name=path.stem, source=str(path))
    if allowed_keys is not None:
        template.check_keys(allowed_keys)
    return template
