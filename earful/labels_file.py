"""Corrections labeled in a spreadsheet: a CSV file -> rows checked line by line.

Columns (a header row names them; order and case do not matter):
  id          the mention id (required; `mention_id` also works)
  sentiment   negative / neutral / positive (also neg, neu, pos, -1, 0, 1, -, =, +)
  topics      topics separated by `|` (optional; a row needs a sentiment, topics, or both)
  text, lang  needed only for posts that are not in the index (labeled outside Earful)
  comment     why (optional)
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from earful.configfile import ConfigError, ConfigProblem
from earful.records import SentimentLabel

ALIASES: dict[str, SentimentLabel] = {
    "negative": "negative",
    "neg": "negative",
    "-1": "negative",
    "-": "negative",
    "neutral": "neutral",
    "neu": "neutral",
    "0": "neutral",
    "=": "neutral",
    "positive": "positive",
    "pos": "positive",
    "1": "positive",
    "+1": "positive",
    "+": "positive",
}


@dataclass(frozen=True)
class LabelRow:
    line: int
    mention_id: str
    sentiment: SentimentLabel | None
    topics: tuple[str, ...] | None
    text: str | None
    lang: str | None
    comment: str


def read_label_file(path: Path) -> list[LabelRow]:
    """Every row of the file, or a ConfigError naming file, line and column of each problem."""
    name = str(path)
    try:
        raw = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError([ConfigProblem(name, None, "", f"not UTF-8 text: {exc}")]) from None
    reader = csv.DictReader(raw.splitlines(), delimiter=_delimiter(raw))
    header = {(h or "").strip().lower(): h for h in reader.fieldnames or []}
    id_column = header.get("id") or header.get("mention_id")
    if id_column is None:
        raise ConfigError([ConfigProblem(name, 1, "id", "the header has no `id` column")])
    problems: list[ConfigProblem] = []
    rows: list[LabelRow] = []
    seen: dict[str, int] = {}

    def cell(record: dict[str | None, str | None], column: str) -> str:
        key = header.get(column)
        return (record.get(key) or "").strip() if key else ""

    for record in reader:
        line = reader.line_num
        mention_id = (record.get(id_column) or "").strip()
        if not mention_id:
            problems.append(ConfigProblem(name, line, "id", "empty"))
            continue
        if mention_id in seen:
            problems.append(
                ConfigProblem(
                    name, line, "id", f"{mention_id} is labeled on line {seen[mention_id]} too"
                )
            )
            continue
        seen[mention_id] = line
        given = cell(record, "sentiment").lower()
        sentiment = ALIASES.get(given) if given else None
        if given and sentiment is None:
            problems.append(
                ConfigProblem(
                    name, line, "sentiment", f"{given!r} is not negative, neutral or positive"
                )
            )
            continue
        topics_cell = cell(record, "topics")
        topics = (
            tuple(t.strip() for t in topics_cell.split("|") if t.strip()) if topics_cell else None
        )
        if sentiment is None and topics is None:
            problems.append(ConfigProblem(name, line, "sentiment", "no sentiment and no topics"))
            continue
        rows.append(
            LabelRow(
                line,
                mention_id,
                sentiment,
                topics,
                cell(record, "text") or None,
                cell(record, "lang") or None,
                cell(record, "comment"),
            )
        )
    if problems:
        raise ConfigError(problems)
    return rows


def _delimiter(raw: str) -> str:
    """The header's separator: spreadsheets export `,`, `;` (where `,` is the decimal mark) or
    tabs."""
    header = raw.split("\n", 1)[0]
    return max(",;\t", key=header.count)
