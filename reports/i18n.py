"""Report text in English, Swedish and Slovenian, with numbers and dates in the reader's locale
(Babel). Messages are `str.format` templates; a missing translation falls back to English."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime
from babel.numbers import format_decimal, format_percent

LOCALES = {"en": "en_GB", "sv": "sv_SE", "sl": "sl_SI"}

MESSAGES: dict[str, dict[str, str]] = {
    "period": {"en": "{start} – {end}", "sv": "{start} – {end}", "sl": "{start} – {end}"},
    "vs_previous": {
        "en": "{delta} vs previous period",
        "sv": "{delta} mot föregående period",
        "sl": "{delta} glede na prejšnje obdobje",
    },
    "new": {"en": "new", "sv": "ny", "sl": "novo"},
    "summary": {"en": "Summary", "sv": "Sammanfattning", "sl": "Povzetek"},
    "goals": {"en": "Goals", "sv": "Mål", "sl": "Cilji"},
    "on_track": {"en": "on track", "sv": "i fas", "sl": "na poti"},
    "off_track": {"en": "behind", "sv": "efter", "sl": "zaostaja"},
    "incomplete": {
        "en": "Data may be incomplete",
        "sv": "Data kan vara ofullständiga",
        "sl": "Podatki morda niso popolni",
    },
    "volume": {
        "en": "Volume, reach and engagement",
        "sv": "Volym, räckvidd och engagemang",
        "sl": "Obseg, doseg in angažiranost",
    },
    "sentiment": {"en": "Sentiment", "sv": "Sentiment", "sl": "Razpoloženje"},
    "share_of_voice": {"en": "Share of voice", "sv": "Andel av rösterna", "sl": "Delež glasu"},
    "topics": {
        "en": "Topics and emerging terms",
        "sv": "Ämnen och nya termer",
        "sl": "Teme in nastajajoči izrazi",
    },
    "alerts": {"en": "Crises and alerts", "sv": "Kriser och larm", "sl": "Krize in opozorila"},
    "care": {"en": "Customer care", "sv": "Kundtjänst", "sl": "Podpora strankam"},
    "campaign": {"en": "Campaign check-in", "sv": "Kampanjuppföljning", "sl": "Pregled kampanje"},
    "mentions": {"en": "Mentions", "sv": "Omnämnanden", "sl": "Omembe"},
    "reach": {"en": "Reach", "sv": "Räckvidd", "sl": "Doseg"},
    "engagement": {"en": "Engagement", "sv": "Engagemang", "sl": "Angažiranost"},
    "engagement_rate": {
        "en": "Engagement rate",
        "sv": "Engagemangsgrad",
        "sl": "Stopnja angažiranosti",
    },
    "net_sentiment": {"en": "Net sentiment", "sv": "Nettosentiment", "sl": "Neto razpoloženje"},
    "negative_share": {"en": "Negative share", "sv": "Andel negativa", "sl": "Delež negativnih"},
    "top_posts": {
        "en": "Top posts by engagement",
        "sv": "Mest engagerande inlägg",
        "sl": "Najbolj angažirane objave",
    },
    "response_rate": {"en": "Response rate", "sv": "Svarsfrekvens", "sl": "Odzivnost"},
    "first_reply_median_min": {
        "en": "First reply (median)",
        "sv": "Första svar (median)",
        "sl": "Prvi odgovor (mediana)",
    },
    "first_reply_p90": {
        "en": "First reply (p90)",
        "sv": "Första svar (p90)",
        "sl": "Prvi odgovor (p90)",
    },
    "reply_wait": {
        "en": "Reply wait (median)",
        "sv": "Väntan på svar (median)",
        "sl": "Čakanje na odgovor (mediana)",
    },
    "backlog": {
        "en": "Waiting at period end",
        "sv": "Väntande vid periodens slut",
        "sl": "Čaka ob koncu obdobja",
    },
    "breaches": {"en": "SLA breaches", "sv": "SLA-överträdelser", "sl": "Kršitve SLA"},
    "share": {"en": "Share", "sv": "Andel", "sl": "Delež"},
    "csat": {
        "en": "Customer satisfaction (survey)",
        "sv": "Kundnöjdhet (enkät)",
        "sl": "Zadovoljstvo strank (anketa)",
    },
    "shift": {
        "en": "Mood after a reply (sentiment shift)",
        "sv": "Stämning efter svar (sentimentskifte)",
        "sl": "Razpoloženje po odgovoru (premik)",
    },
    "no_alerts": {"en": "No alerts fired.", "sv": "Inga larm.", "sl": "Brez opozoril."},
    "acked_after": {
        "en": "acknowledged after {d}",
        "sv": "kvitterat efter {d}",
        "sl": "potrjeno po {d}",
    },
    "not_acked": {"en": "not acknowledged", "sv": "ej kvitterat", "sl": "ni potrjeno"},
    "resolved_after": {"en": "resolved after {d}", "sv": "löst efter {d}", "sl": "rešeno po {d}"},
    "rising": {"en": "Rising", "sv": "Stigande", "sl": "V porastu"},
    "first_week": {
        "en": "First week: {n} mentions vs {b} in the week before ({d})",
        "sv": "Första veckan: {n} omnämnanden mot {b} veckan innan ({d})",
        "sl": "Prvi teden: {n} omemb proti {b} v tednu prej ({d})",
    },
    # narrative sentences
    "n_volume_up": {
        "en": "Mentions of {brand} rose {pct} to {n}.",
        "sv": "Omnämnanden av {brand} ökade med {pct} till {n}.",
        "sl": "Omembe znamke {brand} so se povečale za {pct} na {n}.",
    },
    "n_volume_down": {
        "en": "Mentions of {brand} fell {pct} to {n}.",
        "sv": "Omnämnanden av {brand} minskade med {pct} till {n}.",
        "sl": "Omembe znamke {brand} so se zmanjšale za {pct} na {n}.",
    },
    "n_sentiment": {
        "en": "Net sentiment moved from {before} to {after}, driven by {topic}.",
        "sv": "Nettosentimentet gick från {before} till {after}, drivet av {topic}.",
        "sl": "Neto razpoloženje se je spremenilo z {before} na {after}, predvsem zaradi teme {topic}.",
    },
    "n_sentiment_plain": {
        "en": "Net sentiment moved from {before} to {after}.",
        "sv": "Nettosentimentet gick från {before} till {after}.",
        "sl": "Neto razpoloženje se je spremenilo z {before} na {after}.",
    },
    "n_sov": {
        "en": "Share of voice went from {before} to {after} against {rivals}.",
        "sv": "Andelen av rösterna gick från {before} till {after} mot {rivals}.",
        "sl": "Delež glasu se je spremenil z {before} na {after} v primerjavi z {rivals}.",
    },
    "n_topic": {
        "en": "“{topic}” is the fastest-growing topic ({n} mentions, ×{lift}).",
        "sv": "”{topic}” är det snabbast växande ämnet ({n} omnämnanden, ×{lift}).",
        "sl": "»{topic}« je najhitreje rastoča tema ({n} omemb, ×{lift}).",
    },
    "n_alerts": {
        "en": "{n} critical alert(s) fired, the first on {when}: {summary}",
        "sv": "{n} kritiska larm, det första {when}: {summary}",
        "sl": "Sprožilo se je {n} kritičnih opozoril, prvo {when}: {summary}",
    },
    "n_care": {
        "en": "Response rate was {rate} ({delta}); median first reply {median}.",
        "sv": "Svarsfrekvensen var {rate} ({delta}); median för första svar {median}.",
        "sl": "Odzivnost je bila {rate} ({delta}); mediana prvega odgovora {median}.",
    },
    "n_quiet": {
        "en": "A quiet period: no notable changes against the one before.",
        "sv": "En lugn period: inga större förändringar mot föregående.",
        "sl": "Mirno obdobje: brez večjih sprememb glede na prejšnje.",
    },
    "next_steps": {"en": "What to do next", "sv": "Nästa steg", "sl": "Naslednji koraki"},
    "do_sentiment": {
        "en": "Look into “{topic}”: it carries most negative posts.",
        "sv": "Titta på ”{topic}”: där finns flest negativa inlägg.",
        "sl": "Preverite »{topic}«: tam je največ negativnih objav.",
    },
    "do_care": {
        "en": "Care response rate is under goal: review staffing at peak hours.",
        "sv": "Svarsfrekvensen är under målet: se över bemanningen vid toppar.",
        "sl": "Odzivnost je pod ciljem: preverite zasedbo v konicah.",
    },
    "do_ack": {
        "en": "{n} critical alert(s) were not acknowledged: check that crisis alerts reach someone who owns them.",
        "sv": "{n} kritiska larm kvitterades inte: se till att krislarm når någon som äger dem.",
        "sl": "{n} kritičnih opozoril ni bilo potrjenih: preverite, ali opozorila o krizah dosežejo nekoga, ki zanje skrbi.",
    },
    "do_goal": {
        "en": "“{goal}” is behind ({actual}, goal {target}): plan what closes the gap before the next report.",
        "sv": "”{goal}” ligger efter ({actual}, mål {target}): planera hur gapet sluts före nästa rapport.",
        "sl": "»{goal}« zaostaja ({actual}, cilj {target}): načrtujte, kako zapreti vrzel do naslednjega poročila.",
    },
    "do_sentiment_goal": {
        "en": "Net sentiment is under its goal ({actual}, goal {target}): look into “{topic}”, which carries the most negative posts.",
        "sv": "Nettosentimentet är under målet ({actual}, mål {target}): titta på ”{topic}”, som har flest negativa inlägg.",
        "sl": "Neto razpoloženje je pod ciljem ({actual}, cilj {target}): preverite »{topic}«, kjer je največ negativnih objav.",
    },
    "do_none": {
        "en": "Keep the current plan; nothing needs a change.",
        "sv": "Fortsätt enligt plan; inget behöver ändras.",
        "sl": "Nadaljujte po načrtu; sprememb ni treba.",
    },
}


def clip(text: str, limit: int) -> str:
    """`text` within `limit` characters, cut at a word with an ellipsis where it is longer (a
    cut mid-phrase read "started around 14:00, 5 min" as if it were the whole sentence)."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    if not text[limit - 1].isspace():  # the cut ends inside a word: drop that word
        space = cut.rfind(" ")
        cut = cut[:space] if space > limit // 2 else cut
    return cut.rstrip(" ,;:") + "…"


class Text:
    """Messages and formatting for one language."""

    def __init__(self, language: str):
        self.language = language if language in LOCALES else "en"
        self.locale = LOCALES[self.language]

    def __call__(self, key: str, **values: object) -> str:
        entry = MESSAGES[key]
        return entry.get(self.language, entry["en"]).format(**values)

    def number(self, value: float | int | None) -> str:
        if value is None:
            return "—"
        return format_decimal(value, locale=self.locale, format="#,##0.#")

    def percent(self, value: float | None, digits: int = 1) -> str:
        if value is None:
            return "—"
        pattern = "#,##0%" if digits == 0 else "#,##0." + "0" * digits + "%"
        return format_percent(value, locale=self.locale, format=pattern)

    def signed(self, value: float | None, digits: int = 2) -> str:
        if value is None:
            return "—"
        text = format_decimal(abs(value), locale=self.locale, format="0." + "0" * digits)
        return ("+" if value >= 0 else "−") + text

    def change(self, now: float | None, before: float | None) -> str:
        """`+23%` (relative change), or `new` when there was nothing before."""
        if now is None or before is None:
            return "—"
        if before == 0:
            return self("new") if now else "±0%"
        ratio = now / before - 1
        sign = "+" if ratio >= 0 else "−"
        return sign + format_percent(abs(ratio), locale=self.locale, format="#,##0%")

    def points(self, now: float | None, before: float | None) -> str:
        """A change of a share, in percentage points."""
        if now is None or before is None:
            return "—"
        diff = (now - before) * 100
        sign = "+" if diff >= 0 else "−"
        unit = {"en": "pts", "sv": "p.e.", "sl": "o.t."}[self.language]
        return f"{sign}{format_decimal(abs(diff), locale=self.locale, format='0.0')} {unit}"

    def day(self, value: date | datetime) -> str:
        d = value.date() if isinstance(value, datetime) else value
        return format_date(d, format="medium", locale=self.locale)

    def when(self, value: datetime, tz: str) -> str:
        """A moment in the report's time zone, with the zone's abbreviation: the alerts it
        quotes say "since 14:00 UTC", and a bare "15:05" beside that read as an hour later."""
        zone = ZoneInfo(tz)
        local = format_datetime(value, format="short", tzinfo=zone, locale=self.locale)
        return f"{local} {value.astimezone(zone).strftime('%Z')}"

    def minutes(self, seconds: float | None) -> str:
        if seconds is None:
            return "—"
        return f"{self.number(round(seconds / 60, 1))} min"
