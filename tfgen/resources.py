"""Where the files that ship inside the package live (fonts, templates, assets, default model)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def package_dir() -> Path:
    """The installed `tfgen` package folder."""
    return Path(str(resources.files("tfgen")))


def fonts_dir() -> Path:
    """Fonts vendored in the package (Liberation, OFL)."""
    return package_dir() / "fonts"


def templates_dir() -> Path:
    """The shipped templates: `tfgen/templates` once installed, `templates/` in a source checkout.

    An editable install maps only the `tfgen` folder, so there the top-level folder is used directly.
    """
    try:
        return Path(str(resources.files("tfgen.templates")))
    except ModuleNotFoundError:
        return package_dir().parent / "templates"


def assets_dir() -> Path:
    """Binary assets built by tfgen's own scripts (e.g. the storyworld's pictogram atlas)."""
    return package_dir() / "assets"


def default_model_dir() -> Path:
    """The shipped default model checkpoint directory."""
    return package_dir() / "default_model"
