"""Reproducible training and evaluation data for the default scorer (read from packages)."""
