"""Tooling around the runtime packages: scenario and sample generators, the detection
evaluation, and the harness that runs Earful's real processes for tests and benchmarks.

Nothing in `earful` (core), `models`, `alerts` or `streams` imports this package; the CLI's
`eval` and `sample` commands, `bench` and the tests do.
"""
