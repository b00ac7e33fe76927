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

    The folder holds data only (no __init__.py), so it is looked up as a folder rather than
    through importlib.resources, which gives a MultiplexedPath for such packages on 3.10/3.11.
    """
    installed = package_dir() / "templates"
    return installed if installed.is_dir() else package_dir().parent / "templates"


def assets_dir() -> Path:
    """Binary assets built by tfgen's own scripts (e.g. the storyworld's pictogram atlas)."""
    return package_dir() / "assets"


def default_model_dir() -> Path:
    """The shipped default model checkpoint directory."""
    return package_dir() / "default_model"
