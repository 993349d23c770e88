"""HTTP API and dashboard over the search index."""
