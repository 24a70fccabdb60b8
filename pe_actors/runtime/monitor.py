"""A Prometheus server for a run: scrapes the metrics Ray exports (the ``ray_pe_*`` metrics of
:mod:`pe_actors.runtime.metrics` among them) with the configuration Ray writes into its session directory, on
127.0.0.1, and stops with the run (docs/runtime.md, "Watching a run").

Ray writes ``<session>/metrics/prometheus/prometheus.yml``, whose scrape targets are the nodes' metrics endpoints
(a file that Ray keeps up to date). The binary is the Debian package ``prometheus`` (scripts/setup.sh installs
it) or any ``prometheus`` on the PATH.
"""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any


def ray_session_dir() -> Path:
    """The session directory of the Ray this process is connected to."""
    from ray._private.worker import global_worker

    return Path(global_worker.node.get_session_dir_path())


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


class PrometheusMonitor:
    """A Prometheus process scraping this Ray session's metrics endpoints.

    Args:
        storage: directory for Prometheus's time series (kept after the run, so its data can be looked at later).
        binary: the ``prometheus`` executable (default: the one on the PATH).
        scrape_interval_s: seconds between scrapes (default: Ray's configuration, 10 s).
        host: interface of its web UI and HTTP API (127.0.0.1 keeps it off the network).
    """

    def __init__(
        self,
        storage: Path | str,
        binary: str | None = None,
        scrape_interval_s: float | None = None,
        host: str = "127.0.0.1",
    ) -> None:
        self.binary = binary or shutil.which("prometheus")
        if self.binary is None:
            raise FileNotFoundError(
                "no prometheus executable on the PATH; scripts/setup.sh installs the Debian package prometheus "
                "(apt-get install prometheus)"
            )
        self.storage = Path(storage)
        self.scrape_interval_s = scrape_interval_s
        self.host = host
        self.port: int | None = None
        self.process: subprocess.Popen | None = None
        self._log = None

    @property
    def url(self) -> str:
        """The web UI and HTTP API, ``http://127.0.0.1:PORT``."""
        return f"http://{self.host}:{self.port}"

    def _config(self) -> Path:
        import yaml

        source = ray_session_dir() / "metrics" / "prometheus" / "prometheus.yml"
        if not source.is_file():
            raise FileNotFoundError(f"Ray wrote no Prometheus configuration at {source}")
        config = yaml.safe_load(source.read_text())
        if self.scrape_interval_s is not None:
            config.setdefault("global", {})["scrape_interval"] = f"{self.scrape_interval_s:g}s"
            config["global"]["evaluation_interval"] = f"{self.scrape_interval_s:g}s"
        self.storage.mkdir(parents=True, exist_ok=True)
        path = self.storage / "prometheus.yml"
        path.write_text(yaml.safe_dump(config))
        return path

    def start(self, timeout_s: float = 30.0) -> PrometheusMonitor:
        """Start Prometheus and wait until its HTTP API answers."""
        config = self._config()
        self.port = _free_port(self.host)
        self._log = open(self.storage / "prometheus.log", "ab")  # noqa: SIM115 (closed by stop)
        self.process = subprocess.Popen(
            [
                self.binary,
                f"--config.file={config}",
                f"--web.listen-address={self.host}:{self.port}",
                f"--storage.tsdb.path={self.storage / 'data'}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=self._log,
            preexec_fn=_die_with_parent,
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"prometheus exited at start-up; see {self.storage / 'prometheus.log'}")
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2):
                    return self
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"prometheus did not answer on {self.url} within {timeout_s:g} s")

    def query(self, expression: str) -> list[dict[str, Any]]:
        """The result of an instant PromQL query (``data.result`` of the HTTP API)."""
        address = f"{self.url}/api/v1/query?{urllib.parse.urlencode({'query': expression})}"
        with urllib.request.urlopen(address, timeout=10) as answer:
            return json.loads(answer.read())["data"]["result"]

    def stop(self, patience_s: float = 10.0) -> None:
        """Stop Prometheus (SIGTERM, then SIGKILL after ``patience_s``); nothing of it keeps running."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=patience_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> PrometheusMonitor:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


#: prctl option: a signal the kernel sends this process when its parent dies (Linux).
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In the child before exec: have the kernel send SIGTERM when the run's driver dies, even by SIGKILL, so a
    killed run leaves no Prometheus serving (elsewhere than Linux: nothing)."""
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)

