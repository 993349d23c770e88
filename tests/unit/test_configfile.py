import contextlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alerts.rules import RuleSet
from earful.configfile import ConfigError, load_yaml


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        RuleSet.from_text(text, "rules.yaml")
    return [str(p) for p in info.value.problems]


def test_errors_name_file_line_and_field():
    text = "rules:\n  - name: a\n    kind: sentiment_dip\n    min_volume: lots\n"
    assert problems(text) == [
        "rules.yaml:4: rules[0].min_volume: Input should be a valid integer, unable to parse "
        "string as an integer"
    ]


def test_unknown_fields_and_kinds_are_reported_where_they_are():
    text = (
        "rules:\n  - name: a\n    kind: sentiment_dip\n    windw: 10m\n"
        "  - name: b\n    kind: volume_spik\n"
    )
    found = problems(text)
    assert found[0] == "rules.yaml:4: rules[0].windw: Extra inputs are not permitted"
    assert found[1].startswith("rules.yaml:5: rules[1]: Input tag 'volume_spik'")
    assert len(found) == 2  # no misleading "list too short" on top


def test_cross_field_checks_point_at_the_offending_line():
    text = (
        "engine:\n  bucket: 5m\nrules:\n  - name: a\n    kind: sentiment_dip\n    window: 7m\n"
        "  - name: a\n    kind: sentiment_dip\n"
    )
    assert problems(text) == [
        "rules.yaml:6: rules[0].window: 7m is not a multiple of the bucket (5m)",
        "rules.yaml:7: rules[1].name: rule name 'a' is used twice",
    ]


def test_a_bucket_that_does_not_divide_an_hour_is_refused_where_it_is_set():
    text = "engine:\n  bucket: 7m\nrules:\n  - {name: a, kind: sentiment_dip, window: 14m}\n"
    assert problems(text) == [
        "rules.yaml:2: engine.bucket: 7m does not divide an hour "
        "(use 1m, 2m, 5m, 10m, 15m, 30m or 1h)"
    ]


def test_bad_duration_and_bad_yaml():
    assert (
        "invalid duration 'soon'"
        in problems("rules:\n  - {name: a, kind: sentiment_dip, window: soon}\n")[0]
    )
    assert problems("rules: [\n")[0].startswith("rules.yaml:")


def test_missing_file_names_the_file(tmp_path: Path):
    with pytest.raises(ConfigError) as info:
        load_yaml(tmp_path / "nope.yaml", RuleSet)
    assert "nope.yaml: cannot read" in str(info.value)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_loading_arbitrary_text_never_crashes(text: str):
    """Fuzzing config loading (as Alertmanager does): only ConfigError may escape."""
    try:
        RuleSet.from_text(text, "fuzz.yaml")
    except ConfigError as exc:
        assert all(p.file == "fuzz.yaml" for p in exc.problems)


@settings(max_examples=100, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=10),
        lambda inner: (
            st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
        ),
        max_leaves=12,
    )
)
def test_loading_arbitrary_structures_never_crashes(data: object):
    import yaml

    with contextlib.suppress(ConfigError):
        RuleSet.from_text(yaml.safe_dump({"rules": data}), "fuzz.yaml")
