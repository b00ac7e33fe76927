"""Templates: data only, found by name or path, typed getters naming the key, bad data -> TemplateError."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tfgen.errors import TemplateError
from tfgen.layout.comic import ALLOWED_KEYS, read_config
from tfgen.layout.templates import list_templates, load_template, parse_template

COMIC_TEMPLATES = ["2x2", "default", "manga", "six-panel", "splash-two", "strip-three", "three-tiers", "two-one"]


def test_shipped_comic_templates_are_listed_and_load():
    names = list_templates("comic")
    assert set(COMIC_TEMPLATES) <= set(names)
    for name in names:
        t = load_template("comic", name, allowed_keys=ALLOWED_KEYS)
        assert t.name == name and isinstance(t.data, dict)
        read_config(t, "pdf", None)  # every key has the right type


def test_default_template_is_used_when_no_name_is_given():
    assert load_template("comic", None).name == "default"


def test_unknown_template_name_lists_the_available_ones():
    with pytest.raises(TemplateError, match="unknown comic template 'nope'.*2x2"):
        load_template("comic", "nope")


def test_template_given_as_a_path(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text('[page]\ngutter = 12\n[theme]\naccent = "#00ff00"\n', encoding="utf-8")
    t = load_template("comic", str(path))
    assert t.get("page.gutter", float) == 12.0
    assert t.get_color("theme.accent") == "#00FF00"
    with pytest.raises(TemplateError, match="file not found"):
        load_template("comic", str(tmp_path / "missing.toml"))


def test_json_templates_load_too(tmp_path):
    path = tmp_path / "mine.json"
    path.write_text(json.dumps({"grid": {"reading": "rtl"}}), encoding="utf-8")
    assert load_template("comic", str(path)).get_choice("grid.reading", ("ltr", "rtl")) == "rtl"


def test_getters_name_the_dotted_key_on_a_missing_key_or_a_wrong_type():
    t = parse_template("comic", '[page]\ngutter = "wide"\nflag = true\n[theme]\naccent = "red"\nlist = [1, "a"]', "toml", "t")
    with pytest.raises(TemplateError, match="page.gutter.*must be a number"):
        t.get("page.gutter", float)
    with pytest.raises(TemplateError, match="page.flag.*must be a number"):
        t.get("page.flag", float)
    with pytest.raises(TemplateError, match="page.margin.*missing"):
        t.get("page.margin", float)
    assert t.get("page.margin", float, default=3.0) == 3.0
    with pytest.raises(TemplateError, match="theme.accent.*#RRGGBB"):
        t.get_color("theme.accent")
    with pytest.raises(TemplateError, match=r"theme.list\[1\].*must be a number"):
        t.get_list("theme.list", float)
    with pytest.raises(TemplateError, match="page.gutter.*must be one of"):
        t.get_choice("page.gutter", ("a", "b"))
    t2 = parse_template("comic", "[page]\ngutter = -3", "toml", "t")
    with pytest.raises(TemplateError, match="at least 0"):
        t2.get("page.gutter", float, minimum=0)


def test_unknown_keys_are_rejected_at_top_level_and_inside_tables():
    t = parse_template("comic", "foo = 1", "toml", "t")
    with pytest.raises(TemplateError, match="unknown key 'foo'"):
        t.check_keys(ALLOWED_KEYS)
    t = parse_template("comic", "[page]\ngutterr = 1", "toml", "t")
    with pytest.raises(TemplateError, match="unknown key 'gutterr'"):
        t.check_keys(ALLOWED_KEYS)
    t = parse_template("comic", 'page = "A4"', "toml", "t")
    with pytest.raises(TemplateError, match="must be a table"):
        t.check_keys(ALLOWED_KEYS)


def test_malformed_files_are_template_errors(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[page\nsize = ", encoding="utf-8")
    with pytest.raises(TemplateError, match="malformed TOML"):
        load_template("comic", str(bad))
    binary = tmp_path / "bin.json"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(TemplateError, match="UTF-8"):
        load_template("comic", str(binary))
    with pytest.raises(TemplateError, match="top level"):
        parse_template("comic", "[1, 2]", "json")


# --- property-based: malformed template data never escapes as another exception -------------

_scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=True), st.text(max_size=12))
_values = st.recursive(_scalars, lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)), max_leaves=12)
_known_tables = st.sampled_from(sorted({k.split(".")[0] for k in ALLOWED_KEYS}))
_known_leaves = st.sampled_from(sorted(k.split(".", 1)[1] for k in ALLOWED_KEYS if "." in k))
_templates = st.dictionaries(
    st.one_of(_known_tables, st.text(max_size=8)),
    st.one_of(_values, st.dictionaries(st.one_of(_known_leaves, st.text(max_size=6)), _values, max_size=5)),
    max_size=5,
)


def _load_and_read(text: str, suffix: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"t{suffix}"
        path.write_text(text, encoding="utf-8")
        template = load_template("comic", str(path))
        read_config(template, "pdf", None)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=80))
def test_random_toml_text_is_a_clean_error_or_loads(text):
    try:
        _load_and_read(text, ".toml")
    except TemplateError:
        pass


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_templates)
def test_template_dicts_with_wrong_types_are_template_errors(data):
    try:
        text = json.dumps(data)
    except ValueError:
        return
    try:
        _load_and_read(text, ".json")
    except TemplateError:
        pass


@settings(max_examples=40, deadline=None)
@given(st.text(max_size=30))
def test_random_template_names_are_clean_errors(name):
    try:
        load_template("comic", name)
    except TemplateError:
        pass


_leaf_values = st.one_of(
    _scalars,
    st.floats(-50, 300),
    st.sampled_from(["#FF00AA", "#12345", "comic", "sans", "rtl", "ltr", "A4", "letter"]),
    st.lists(st.one_of(st.lists(st.one_of(st.integers(-2, 5), st.floats(0, 3)), max_size=4), st.integers(0, 3)), max_size=4),
)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(sorted(ALLOWED_KEYS)), _leaf_values, max_size=8))
def test_known_keys_with_random_values_load_and_compose_or_fail_cleanly(flat):
    from conftest import make_image

    from tfgen.document import Document, TextSegment
    from tfgen.layout.checks import PRINT_MIN_SIZES, check_layout
    from tfgen.layout.comic import compose_comic

    nested: dict = {}
    for key, value in flat.items():
        if "." in key:
            table, leaf = key.split(".", 1)
            nested.setdefault(table, {})[leaf] = value
        else:
            nested[key] = value
    doc = Document([TextSegment("# T\n\n## 1"), make_image(), TextSegment('> Night.\n\nFox: "Hello there."')], kind="comic")
    try:
        template = parse_template("comic", json.dumps(nested), "json", "random")  # NaN is rejected here
        layout = compose_comic(doc, template, "pdf", None)
    except TemplateError:
        return
    assert check_layout(layout, PRINT_MIN_SIZES) == []
