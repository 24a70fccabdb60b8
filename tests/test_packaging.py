"""The installed import names: the folders launcher/ and datasets/ install as ``pe_actors_launcher`` and
``pe_actors_datasets``, so they never shadow PyPI's ``launcher`` or HuggingFace's ``datasets``."""

from __future__ import annotations

import configparser
import subprocess
import sys
from pathlib import Path

from setuptools import find_packages

ROOT = Path(__file__).resolve().parent.parent


def test_import_datasets_and_launcher_do_not_load_ours(tmp_path):
    """In a fresh interpreter outside the checkout, ``import datasets`` and ``import launcher`` find nothing of
    ours (another installed package of that name would load instead), while our import names load the folders."""
    probe = (
        "import importlib.util, sys\n"
        "for name in ('datasets', 'launcher'):\n"
        "    spec = importlib.util.find_spec(name)\n"
        "    print(name, 'none' if spec is None else spec.origin)\n"
        "import pe_actors_datasets, pe_actors_launcher.cli\n"
        "print('ours', pe_actors_datasets.__file__, pe_actors_launcher.cli.__file__)\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, check=True)
    lines = dict(line.split(" ", 1) for line in result.stdout.splitlines())
    for name in ("datasets", "launcher"):
        assert lines[name] == "none" or not lines[name].startswith(str(ROOT)), lines[name]
    ours = lines["ours"].split()
    assert ours[0] == str(ROOT / "datasets" / "__init__.py") and ours[1] == str(ROOT / "launcher" / "cli.py")


def test_setup_cfg_lists_every_package():
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    listed = set(config["options"]["packages"].split())
    expected = set(find_packages(ROOT, include=["pe_actors", "pe_actors.*"])) | {
        "pe_actors_launcher",
        "pe_actors_datasets",
    }
    assert listed == expected
