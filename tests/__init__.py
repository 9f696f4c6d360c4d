"""satchel's test suite (a package so that ``tests.servers`` imports from the repo root)."""
