"""Benchmarks (`make bench`): figures are printed, never asserted."""


def keep_calibrations() -> None:
    """Keep the CUSUM thresholds where the CLI and the worker keep them: otherwise every
    benchmark process (the compiled replay, the interpreted one in its own process) simulates
    them again, about half a minute each, before it measures anything."""
    from alerts import calibration
    from earful.json_files import JsonFiles
    from earful.settings import CACHE_DIR

    calibration.remember_in(JsonFiles(CACHE_DIR / "calibration"))
