"""Data sets and features (independent of pe_actors)."""
