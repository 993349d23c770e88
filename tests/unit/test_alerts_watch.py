"""`earful alerts watch` prints an alert in the notifiers' words, as a person reads them."""

from datetime import UTC, datetime, timedelta

from rich.console import Console

from earful.cli.alerts_cmd import render
from earful.records import Alert, Evidence, TopPost

AT = datetime(2026, 11, 16, 7, 57, tzinfo=UTC)


def _printed(alert: Alert) -> str:
    console = Console(width=200, record=True, color_system=None)
    console.print(render(alert))
    return console.export_text()


def _alert(evidence: Evidence, summary: str = "summary", brand: str = "Skyway Air") -> Alert:
    return Alert(
        kind="sla_warning",
        brand=brand,
        rule="urgent-first-reply",
        status="firing",
        severity="critical",
        fingerprint="f1",
        fired_at=AT,
        window_start=AT - timedelta(minutes=15),
        window_end=AT,
        evidence=evidence,
        summary=summary,
    )


def test_a_care_warning_has_no_range_or_p_value_to_print() -> None:
    text = _printed(
        _alert(
            Evidence(
                observed=12.0,
                expected=15.0,
                expected_high=15.0,
                unit="minutes waiting for a reply",
                top_posts=(TopPost(id="c3", text="your hold music", author="cust1"),),
            )
        )
    )
    assert "observed 12 vs expected 15 — minutes waiting for a reply" in text
    assert "None" not in text
    assert "@cust1 (0 followers): your hold music" in text


def test_a_volume_spike_prints_its_usual_range_and_p_value() -> None:
    text = _printed(
        _alert(
            Evidence(
                observed=85.0,
                expected=23.4,
                expected_low=10.0,
                expected_high=40.0,
                p_value=1.234567e-7,
                top_terms=(("refund", 12),),
            )
        )
    )
    assert "observed 85 vs expected 23.4 (usual range 10–40) — mentions, p=1.2e-07" in text
    assert "terms: refund (12)" in text


def test_what_an_alert_quotes_prints_as_written_not_as_markup() -> None:
    text = _printed(
        _alert(
            Evidence(
                observed=3.0,
                expected=1.0,
                top_posts=(TopPost(id="p", text="[bold]worst[/bold] flight [x]", author="[me]"),),
                top_terms=(("[/]", 2),),
            ),
            summary="new term '[/]' in 3 mentions",
            brand="[Acme]",
        )
    )
    assert "[Acme]" in text
    assert "new term '[/]' in 3 mentions" in text
    assert "@[me] (0 followers): [bold]worst[/bold] flight [x]" in text
    assert "terms: [/] (2)" in text
