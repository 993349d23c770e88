"""The YAML examples in the configuration modules' docstrings are valid (they are what users
copy first, so a stale one is a bug)."""

import textwrap

import pytest

import alerts.care.policies
import alerts.routing.config
import alerts.rules
import earful.projects
import reports.config
from alerts.care.policies import load_policies
from alerts.routing.config import RoutingConfig
from alerts.rules import load_rules


def example(module) -> str:
    doc = module.__doc__
    body = doc.split("\n", 2)[2]  # after the title line and the blank line
    block = body.split("\n\n")[0]
    return textwrap.dedent(block)


@pytest.mark.parametrize(
    ("module", "load"),
    [
        (alerts.rules, load_rules),
        (alerts.care.policies, load_policies),
        (alerts.routing.config, RoutingConfig.load),
        (earful.projects, earful.projects.Projects.load),
        (reports.config, reports.config.Reports.load),
    ],
)
def test_docstring_example_loads(module, load, tmp_path, monkeypatch):
    monkeypatch.setenv("EARFUL_SLACK_PR_URL", "https://hooks.slack.example/x")
    monkeypatch.setenv("EARFUL_PAGERDUTY_KEY", "k" * 32)
    path = tmp_path / "example.yaml"
    path.write_text(example(module))
    load(path)
