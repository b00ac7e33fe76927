"""Package discovery only (metadata lives in pyproject.toml).

templates/ sits at the top of the repo but ships as the package `tfgen.templates`, which
setuptools' automatic discovery cannot express, so the packages are listed here.
"""

from pathlib import Path

from setuptools import find_packages, setup

template_packages = ["tfgen.templates"] + [
    "tfgen.templates." + p.name for p in sorted(Path("templates").iterdir()) if p.is_dir() and not p.name.startswith((".", "_"))
]

setup(packages=find_packages(include=["tfgen", "tfgen.*"]) + template_packages)
