"""The wheel ships templates and fonts: build it, install it into a fresh venv, render from elsewhere."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SKIP = shutil.ignore_patterns(".git", "__pycache__", "*.egg-info", "build", "dist", ".hypothesis", ".pytest_cache", "runs", "*.pyc")


def _run(cmd: list[str], cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"{' '.join(cmd)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    # Build from a copy, so the checkout gets no build/ or egg-info folders.
    work = tmp_path_factory.mktemp("wheel")
    src = work / "src"
    shutil.copytree(REPO, src, ignore=SKIP)
    # --no-isolation: use the installed setuptools instead of downloading one. The dependency
    # check is skipped because `build` does not see the `wheel` distribution that is installed.
    _run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--skip-dependency-check", "--outdir", str(work / "dist"), str(src)], work)
    (found,) = (work / "dist").glob("tfgen-*.whl")
    return found


@pytest.mark.slow
def test_wheel_contains_templates_and_fonts(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    for kind in ("comic", "magazine", "deck"):
        shipped = {Path(n).name for n in names if n.startswith(f"tfgen/templates/{kind}/")}
        in_repo = {p.name for p in (REPO / "templates" / kind).iterdir() if p.suffix in (".toml", ".json")}
        assert in_repo and shipped == in_repo, kind
    in_repo_fonts = {p.name for p in (REPO / "tfgen" / "fonts").glob("*.ttf")}
    assert in_repo_fonts <= {Path(n).name for n in names if n.startswith("tfgen/fonts/")}
    assert any(n.endswith("entry_points.txt") for n in names)
    model_dir = REPO / "tfgen" / "default_model"
    shipped_model = {n[len("tfgen/"):] for n in names if n.startswith("tfgen/default_model/")}
    in_repo_model = {str(p.relative_to(REPO / "tfgen")) for p in model_dir.rglob("*") if p.is_file()}
    assert "default_model/model.safetensors" in in_repo_model and shipped_model == in_repo_model


@pytest.mark.slow
def test_installed_wheel_renders_outside_the_checkout(wheel, tmp_path):
    env_dir = tmp_path / "venv"
    # System site-packages carry torch, reportlab, ... so nothing is downloaded; tfgen itself is
    # not installed there (the checkout is only importable from its own folder).
    venv.EnvBuilder(system_site_packages=True, with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    _run([str(python), "-m", "pip", "install", "--no-deps", "--no-index", "--quiet", str(wheel)], tmp_path)
    where = _run([str(python), "-c", "import tfgen; print(tfgen.__file__)"], tmp_path).stdout.strip()
    assert where.startswith(str(env_dir)), where
    work = tmp_path / "elsewhere"
    work.mkdir()
    shutil.copy(REPO / "examples" / "comic.json", work / "story.json")
    tfgen = str(env_dir / "bin" / "tfgen")
    _run([tfgen, "render", "story.json", "--as", "comic", "-o", "story.pdf"], work)
    _run([tfgen, "render", "story.json", "--as", "deck", "-t", "dark", "-o", "story.pptx"], work)
    info = _run([tfgen, "info"], work).stdout  # the shipped model, found outside the checkout
    assert "OpenMoji" in info
    from pptx import Presentation
    from pypdf import PdfReader

    text = "".join(page.extract_text() for page in PdfReader(str(work / "story.pdf")).pages)
    assert "The Fox and the Lantern" in text
    assert len(Presentation(str(work / "story.pptx")).slides) >= 1
