"""Command line, launching and cluster handling."""
