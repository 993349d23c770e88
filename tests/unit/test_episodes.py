"""An open alert episode is typed (`alerts/lifecycle.py` `Episode`) and stored from its
declaration; the record wave 1 wrote by hand loads into it unchanged."""

import json

from alerts.detectors.base import Finding
from alerts.lifecycle import Episode, step
from earful.records import Evidence

EVIDENCE = Evidence(observed=40.0, expected=8.5, expected_low=2.0, unit="mentions", p_value=1e-7)
KW = dict(kind="volume_spike", brand="acme", rule="spike", window_s=3600, resolve_after=2)


def finding(severity="warning", evidence=EVIDENCE):
    return Finding(
        anomalous=True,
        sustained=True,
        severity=severity,
        proof=evidence,
        summary="acme: 40 mentions",
        labels={"direction": "up"},
    )


def test_an_episode_round_trips_and_reads_the_hand_written_record():
    episode, alert = step(None, finding(), end=1_800_000_000, labels={}, **KW)
    assert episode is not None and alert is not None and alert.status == "firing"
    stored = json.loads(json.dumps(episode.dump()))
    assert Episode.load(stored) == episode
    wave1 = {  # as alerts/lifecycle.py wrote it before the declaration
        "started": 1_800_000_000,
        "severity": "warning",
        "calm": 0,
        "last": {
            "severity": "warning",
            "summary": "acme: 40 mentions",
            "topic": None,
            "term": None,
            "labels": {"direction": "up"},
            "evidence": EVIDENCE.model_dump(mode="json"),
        },
    }
    assert Episode.load(wave1) == episode


def test_a_loaded_episode_escalates_and_resolves_with_its_last_evidence():
    episode = Episode.load(
        json.loads(json.dumps(step(None, finding(), end=0, labels={}, **KW)[0].dump()))
    )
    episode, alert = step(episode, finding("critical"), end=300, labels={}, **KW)
    assert alert is not None and alert.severity == "critical" and episode.severity == "critical"
    episode, alert = step(episode, None, end=600, labels={}, **KW)
    assert alert is None and episode.calm == 1
    episode, alert = step(episode, None, end=900, labels={}, **KW)
    assert episode is None and alert is not None and alert.status == "resolved"
    assert alert.evidence == EVIDENCE and alert.summary == "resolved: acme: 40 mentions"


def test_a_damaged_episode_record_is_dropped_not_a_crash_loop(caplog):
    """A worker reads its state at every start: a record it cannot read must not stop it each
    time. The damaged episode is dropped (said in the log); the others are kept."""
    from alerts.state import KeyState

    good = step(None, finding(), end=1_800_000_000, labels={}, **KW)[0]
    assert good is not None
    raw = KeyState().to_dict()
    raw["series"] = {
        "": {
            "open": [],
            "closed": [],
            "rules": {},
            "episodes": {"spike||": good.dump(), "dip||": {"started": "yesterday"}},
            "last": 0,
        }
    }
    with caplog.at_level("WARNING", logger="alerts.state"):
        state = KeyState.from_dict(json.loads(json.dumps(raw)))
    assert state.series[""].episodes == {"spike||": good}
    assert "'dip||'" in caplog.text and "dropped" in caplog.text
