"""The ``pe-actors`` command group; each command lives in a module of its own."""

import click


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="pe-actors")
def cli() -> None:
    """Train spiking RNNs with e-prop, one Ray actor per SpiNNaker 2 processing element."""


from launcher.memory import memory  # noqa: E402

cli.add_command(memory)

from launcher.data import data  # noqa: E402

cli.add_command(data)

from launcher.train import train  # noqa: E402

cli.add_command(train)

from launcher.profile import profile  # noqa: E402

cli.add_command(profile)

from launcher.energy import energy  # noqa: E402

cli.add_command(energy)

from launcher.raster import raster  # noqa: E402

cli.add_command(raster)

from launcher.evaluate import evaluate  # noqa: E402

cli.add_command(evaluate)

from launcher.sweep import sweep  # noqa: E402

cli.add_command(sweep)

from launcher.curves import curves  # noqa: E402

cli.add_command(curves)

from launcher.pcm import pcm  # noqa: E402

cli.add_command(pcm)
