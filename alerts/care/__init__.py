"""Customer care: business calendars, SLA policies, conversation clocks, metrics."""
