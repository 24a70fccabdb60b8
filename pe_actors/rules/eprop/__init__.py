"""E-prop (papers 000/002): the ALIF network's PE program on the runtime (docs/eprop.md)."""
