#!/usr/bin/env bash
# Set up pe-actors on a fresh Debian machine: system packages for the offline speech stand-in,
# then a virtual environment .venv at the repository root with the project installed (editable).
set -euo pipefail
cd "$(dirname "$0")/.."
# espeak-ng and flite voice the offline stand-in; prometheus serves `pe-actors train --monitor`; iproute2 and
# util-linux (ip, nsenter, unshare) build the multi-host test bed (scripts/testbed.py).
if ! command -v espeak-ng >/dev/null || ! command -v flite >/dev/null || ! command -v prometheus >/dev/null \
    || ! command -v ip >/dev/null || ! command -v nsenter >/dev/null; then
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq espeak-ng flite prometheus iproute2 util-linux >/dev/null
fi
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[dev,interop]'
