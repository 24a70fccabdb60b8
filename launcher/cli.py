"""The ``pe-actors`` command group; each command lives in a module of its own."""

import click

from pe_actors.core.logs import to_streams


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="pe-actors")
def cli() -> None:
    """Train spiking RNNs with e-prop, one Ray actor per SpiNNaker 2 processing element."""
    # The library logs its lines; a command prints them, progress on stdout and warnings on stderr.
    to_streams()


from pe_actors_launcher.memory import memory  # noqa: E402

cli.add_command(memory)

from pe_actors_launcher.data import data  # noqa: E402

cli.add_command(data)

from pe_actors_launcher.train import train  # noqa: E402

cli.add_command(train)

from pe_actors_launcher.profile import profile  # noqa: E402

cli.add_command(profile)

from pe_actors_launcher.energy import energy  # noqa: E402

cli.add_command(energy)

from pe_actors_launcher.raster import raster  # noqa: E402

cli.add_command(raster)

from pe_actors_launcher.evaluate import evaluate  # noqa: E402

cli.add_command(evaluate)

from pe_actors_launcher.sweep import sweep  # noqa: E402

cli.add_command(sweep)

from pe_actors_launcher.curves import curves  # noqa: E402

cli.add_command(curves)

from pe_actors_launcher.pcm import pcm  # noqa: E402

cli.add_command(pcm)

from pe_actors_launcher.tune import tune  # noqa: E402

cli.add_command(tune)

from pe_actors_launcher.layout import layout  # noqa: E402

cli.add_command(layout)

from pe_actors_launcher.adapt import adapt_command  # noqa: E402

cli.add_command(adapt_command)

from pe_actors_launcher.export import export  # noqa: E402

cli.add_command(export)
