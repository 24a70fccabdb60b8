"""The ``pe-actors`` command group; each command lives in a module of its own."""

import importlib

import click

from pe_actors.core.logs import to_streams

#: The commands, by their module (``pe_actors_launcher.<module>``) and the name of the click command in it.
COMMANDS = (
    ("train", "train"), ("adapt", "adapt_command"), ("evaluate", "evaluate"), ("raster", "raster"),
    ("export", "export"), ("data", "data"), ("curves", "curves"), ("tune", "tune"), ("pcm", "pcm"),
    ("memory", "memory"), ("profile", "profile"), ("energy", "energy"), ("sweep", "sweep"), ("layout", "layout"),
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="pe-actors")
def cli() -> None:
    """Train spiking RNNs with e-prop, one Ray actor per SpiNNaker 2 processing element."""
    # The library logs its lines; a command prints them, progress on stdout and warnings on stderr.
    to_streams()


for _module, _name in COMMANDS:
    cli.add_command(getattr(importlib.import_module(f"pe_actors_launcher.{_module}"), _name))
