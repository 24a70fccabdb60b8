"""``pe-actors train``: train a network with any rule on any engine, from options, a ``--config`` file or recipe,
or a ``--resume``-d run's recorded settings.

A thin adapter: its options are made from the settings' declarations (:data:`pe_actors.run.config.RunConfig`,
section by section), it resolves them into a run configuration and runs :func:`pe_actors.run.training.train`.
The run directory (``--out``) receives ``run-config.toml`` (re-usable with ``--config``), ``metrics.jsonl``,
``checkpoints/``, ``curves.png`` (train/validation/test accuracy and loss per epoch, like the paper's Figure 5)
with ``curves.json`` beside it, and ``summary.json``.
"""

from __future__ import annotations

from typing import Any

import click

from pe_actors.rules import rule
from pe_actors.run import training
from pe_actors.run.config import RunConfig, resolve
from pe_actors_launcher.options import config_option, library_errors
from pe_actors_launcher.setting_options import setting_options


@click.command("train")
@config_option
@setting_options(RunConfig)
@click.pass_context
def train(ctx: click.Context, **options: Any) -> None:
    """Train a network with e-prop, BPTT or EventProp and report validation and test accuracy after each epoch.

    E-prop and BPTT: without --data the offline stand-in of Speech Commands is synthesised once into --cache, and
    every accuracy is labelled synthetic. EventProp: Yin-Yang is generated offline with the published seeds (or
    read from --data as written by pe-actors data yinyang). The Ray dashboard URL is printed when the actors
    engine starts Ray.
    """
    source = ctx.get_parameter_source
    # Given: on the command line or by --config (click puts the file's values in its default map); the rest take
    # the defaults, or the rule's run defaults (EventProp: its recipe's values).
    given = {
        name: value
        for name, value in options.items()
        if name != "config_file" and source(name) not in (click.core.ParameterSource.DEFAULT, None)
    }
    aliases = rule(options["rule"]).aliases
    if options["rule"] in aliases and source("engine") == click.core.ParameterSource.COMMANDLINE:
        click.echo(f"Note: --rule {options['rule']} trains on the {aliases[options['rule']]} engine; --engine is "
                   "ignored.")
    with library_errors():
        config = resolve(given) if options["resume"] is None else RunConfig(**(given | {"resume": options["resume"]}))
        training.train(config, callbacks=(ctx.obj or {}).get("callbacks", ()), given=given)
