"""Team reports on a cadence: definitions, periods, sections, narrative and rendering.

Pure: the numbers come in as `ReportFacts` (fetched from the search indexes by
`streams/report_facts.py`), and out go Slack blocks, HTML, plain text, PNG charts and a PDF.
"""
