"""The store of calls (one DuckDB file) and the QA tables beside it."""
