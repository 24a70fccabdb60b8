"""Data sets and features (independent of pe_actors), per docs/data.md.

Public API: ``load_prepared`` and ``PreparedData`` (a prepared feature cache), ``prepare`` (build one),
``featurize_folder`` (features of a raw GSC folder with a cache's parameters), ``ensure_standin`` and
``synthesize`` (the offline espeak-ng/flite stand-in), ``yinyang`` (the Yin-Yang data set) and ``CLASS_NAMES``.
"""

from pe_actors_datasets.cache import PreparedData, PrepareResult, featurize_folder, load_prepared, prepare
from pe_actors_datasets.speech_commands import CLASS_NAMES, BadClipError
from pe_actors_datasets.synth import ensure_standin, synthesize
from pe_actors_datasets.yinyang import YINYANG_CLASS_NAMES, yinyang, yinyang_splits

__all__ = [
    "CLASS_NAMES",
    "YINYANG_CLASS_NAMES",
    "BadClipError",
    "PrepareResult",
    "PreparedData",
    "ensure_standin",
    "featurize_folder",
    "load_prepared",
    "prepare",
    "synthesize",
    "yinyang",
    "yinyang_splits",
]
