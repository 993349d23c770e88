"""Benchmarks (`make bench`): figures are printed, never asserted."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample" / "mentions.jsonl"


def keep_calibrations() -> None:
    """Keep the CUSUM thresholds where the CLI and the worker keep them: otherwise every
    benchmark process (the compiled replay, the interpreted one in its own process) simulates
    them again, about half a minute each, before it measures anything."""
    from alerts import calibration
    from earful.json_files import JsonFiles
    from earful.settings import CACHE_DIR

    calibration.remember_in(JsonFiles(CACHE_DIR / "calibration"))


def sample_texts() -> list[str]:
    """Texts of the sample's *valid* mentions (the malformed lines are dead-lettered)."""
    from earful.codec import InvalidMessage, decode_record
    from earful.records import Mention

    out = []
    for line in SAMPLE.read_bytes().splitlines():
        try:
            out.append(decode_record(line, Mention).text)
        except InvalidMessage:
            continue
    return out
