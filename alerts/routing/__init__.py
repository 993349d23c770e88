"""Alert routing: the route tree, grouping, silences, inhibition, quiet hours, escalation."""
