"""The data sources this package offers to training libraries, as plain arrays: each returns a
:class:`~pe_actors_datasets.cache.PreparedData` (splits of features and integer labels, class names, whether the
data are synthetic, metadata). They are declared as the entry points ``pe_actors.data`` in setup.cfg, which is
how pe_actors finds them without importing this package.

The sources a run reads its splits from (``prepared``, ``standin``, ``yinyang``) share one call: the folder the run
names (None: the source's own default) and keyword options ``cache``, ``size``, ``progress``, ``augment``,
``views`` and ``seed``, of which each takes the ones it uses. ``gsc_folder`` and ``shd`` are called by the
library's own readers of raw clips and event files."""

from __future__ import annotations

from pathlib import Path

from pe_actors_datasets.augment import AUDIO_AUGMENTATIONS, AudioAugment
from pe_actors_datasets.cache import PreparedData, featurize_folder, load_prepared
from pe_actors_datasets.synth import ensure_standin
from pe_actors_datasets.yinyang import YINYANG_CLASS_NAMES, read_yinyang, yinyang_splits


def prepared(path: Path | str, **options: object) -> PreparedData:
    """A prepared feature directory (``pe-actors data prepare``)."""
    if path is None:
        raise ValueError("prepared features need a folder (--data DIR)")
    return load_prepared(path)


def standin(
    path: Path | str | None = None,
    *,
    cache: Path | str = Path("cache/standin"),
    size: str = "default",
    progress: bool = True,
    augment: tuple[str, ...] = (),
    views: int = 0,
    **options: object,
) -> PreparedData:
    """The offline synthetic stand-in of Speech Commands, synthesised and featurised once into ``cache`` (with
    progress bars when ``progress``), with ``views`` augmented views of its training split through the audio
    augmentations named in ``augment`` (``pe_actors_datasets.augment``; others are ignored). It is made, not read:
    a ``path`` is refused."""
    if path is not None:
        raise ValueError(f"the stand-in is synthesised into its cache, not read from {path}")
    augment = tuple(name for name in augment if name in AUDIO_AUGMENTATIONS)
    chain = AudioAugment.named(augment) if augment and views else None
    return load_prepared(
        ensure_standin(cache, size=size, progress=progress, augment=chain, views=views if chain else 0)
    )


def yinyang(path: Path | str | None = None, **options: object) -> PreparedData:
    """Yin-Yang features (x, y and their mirrors) and labels: read from ``path`` as ``pe-actors data yinyang``
    writes them, or generated with the published seeds."""
    source = str(path) if path is not None else "generated (published seeds)"
    splits = yinyang_splits() if path is None else read_yinyang(path)
    return PreparedData(splits, list(YINYANG_CLASS_NAMES), False, {"dataset": "yinyang", "source": source})


def gsc_folder(folder: Path | str, metadata: dict, **options: object) -> tuple:
    """Features and labels of the clips of a raw GSC-layout ``folder``, featurised with a prepared cache's
    ``metadata`` (its feature parameters and training normalisation); ``options`` as
    :func:`pe_actors_datasets.featurize_folder` takes them (``split``, ``clip_list``, ``per_class``, ``workers``,
    ``progress``, ``skip_bad``)."""
    return featurize_folder(folder, metadata, **options)


def shd(folder: Path | str, cache: Path | str, bin_ms: float, n_steps: int, seed: int = 0) -> PreparedData:
    """The Spiking Heidelberg Digits in ``folder`` as binary rasters of ``n_steps`` bins of ``bin_ms``, cached."""
    from pe_actors_datasets.events import load_shd

    return load_shd(folder, cache, bin_ms, n_steps, seed)
