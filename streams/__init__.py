"""Wiring: Faust agents, Kafka topics and the search engine around the pure packages."""
