"""A multi-host Ray test bed on one machine: N hosts, each a Linux network namespace with an address of its own on
a bridge and a mount namespace with its own ``/dev/shm`` (a fresh tmpfs) and its own Ray temp directory, so that
what one host writes to shared memory or to Ray's sockets no other host can see, as on separate machines. Host 0
runs the Ray head (GCS, dashboard); every host runs a raylet declaring ``pe`` slots. Needs root.

    sudo .venv/bin/python scripts/testbed.py up --hosts 3 --pe 6       (prints the head's address)
    sudo .venv/bin/python scripts/testbed.py run 0 -- .venv/bin/pe-actors train --engine actors --address HEAD:6379
    sudo .venv/bin/python scripts/testbed.py kill 2                     (every process of host 2, as a power cut)
    sudo .venv/bin/python scripts/testbed.py restart 2                  (host 2 back, rejoining the head)
    sudo .venv/bin/python scripts/testbed.py down                       (removes every trace: processes, namespaces,
                                                                         the bridge, the temp directories)

From Python (the tests' fixture): ``with TestBed(hosts=3, pe_per_host=6) as bed: bed.run(0, [...])``.

A driver must run on a host (Ray connects a driver to the raylet of its own machine): ``run`` enters host 0's
namespaces. The hosts share this machine's cores and memory, so the test bed shows correctness across hosts
(addresses, shared memory, sockets, failures) and the cost of crossing them, not the speed of a cluster.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

#: Names of everything the test bed creates start with this, so that ``down`` finds leftovers of a crashed run.
PREFIX = "petb"
#: Where each host's Ray temp directory and the test bed's state file live (short: Ray's Unix sockets sit below).
ROOT = Path("/tmp") / PREFIX
STATE = ROOT / "state.json"
#: The private network of the hosts; the bridge (this machine's root namespace) is .1, host i is .(10 + i).
SUBNET = "10.231.0"
HEAD_PORT = 6379
DASHBOARD_PORT = 8265


def _sh(argv: list[str], check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, check=check)


def namespaces_unavailable() -> str:
    """Why hosts cannot be made here ("" when they can): not root, or no ``ip``/``nsenter``/``unshare``, or the
    kernel refuses a network namespace."""
    if os.geteuid() != 0:
        return "the test bed needs root (network and mount namespaces, a bridge)"
    missing = [tool for tool in ("ip", "nsenter", "unshare") if shutil.which(tool) is None]
    if missing:
        return f"the test bed needs {', '.join(missing)} (iproute2, util-linux)"
    probe = f"{PREFIX}-probe"
    made = _sh(["ip", "netns", "add", probe], check=False)
    if made.returncode != 0:
        return f"cannot make a network namespace: {made.stderr.strip()}"
    _sh(["ip", "netns", "del", probe], check=False)
    return ""


@dataclass
class Host:
    """One emulated host: its index, network namespace, address and the process holding its mount namespace."""

    index: int
    holder: int = 0

    @property
    def name(self) -> str:
        return f"{PREFIX}-h{self.index}"

    @property
    def ip(self) -> str:
        return f"{SUBNET}.{10 + self.index}"

    @property
    def temp(self) -> Path:
        return ROOT / f"h{self.index}"

    def pids(self) -> list[int]:
        """Every process in the host's network namespace (its holder, raylet, workers, drivers), found through
        /proc so that it works from inside any host too (a host's mount namespace hides the others' names)."""
        try:
            namespace = os.readlink(f"/proc/{self.holder}/ns/net")
        except OSError:
            return []
        found = []
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    if os.readlink(f"/proc/{entry}/ns/net") == namespace:
                        found.append(int(entry))
                except OSError:
                    continue  # gone meanwhile
        return found


class TestBed:
    """N emulated hosts with a Ray cluster on them (see the module's docstring).

    Args:
        hosts: how many hosts; host 0 is the head.
        pe_per_host: ``pe`` slots each host's raylet declares (the head's included unless ``head_pe`` is given).
        head_pe: ``pe`` slots of the head (default ``pe_per_host``; 0 keeps PE actors off it).
        cpus_per_host: the CPUs each raylet declares (Ray schedules by them, the kernel does not limit them).
        dashboard: start the dashboard on the head (on all its addresses, port 8265).
    """

    __test__ = False  # a name pytest would otherwise collect

    def __init__(
        self, hosts: int = 3, pe_per_host: int = 6, head_pe: int | None = None, cpus_per_host: int = 1,
        dashboard: bool = True,
    ) -> None:
        if not 1 <= hosts <= 200:
            raise ValueError(f"hosts must be 1-200, got {hosts}")
        self.hosts = [Host(i) for i in range(hosts)]
        self.pe_per_host = pe_per_host
        self.head_pe = pe_per_host if head_pe is None else head_pe
        self.cpus_per_host = cpus_per_host
        self.dashboard = dashboard
        self.venv_bin = Path(sys.executable).parent

    # --- building -------------------------------------------------------------------------------------------

    @property
    def head_address(self) -> str:
        return f"{self.hosts[0].ip}:{HEAD_PORT}"

    @property
    def dashboard_url(self) -> str:
        return f"http://{self.hosts[0].ip}:{DASHBOARD_PORT}"

    def up(self, timeout_s: float = 180.0) -> TestBed:
        """Make the bridge and the hosts and start Ray on each; on any failure everything made is removed."""
        down()  # leftovers of a crashed run would hold the names and addresses
        try:
            ROOT.mkdir(parents=True, exist_ok=True)
            bridge = f"{PREFIX}-br"
            _sh(["ip", "link", "add", bridge, "type", "bridge"])
            _sh(["ip", "addr", "add", f"{SUBNET}.1/24", "dev", bridge])
            _sh(["ip", "link", "set", bridge, "up"])
            for host in self.hosts:
                self._make_host(host, bridge)
            self._save()
            self._start_ray(self.hosts[0], head=True)
            for host in self.hosts[1:]:
                self._start_ray(host, head=False)
            self.wait_for_nodes(len(self.hosts), timeout_s)
        except BaseException:
            down()
            raise
        return self

    def _make_host(self, host: Host, bridge: str) -> None:
        veth = f"{PREFIX}-v{host.index}"
        _sh(["ip", "netns", "add", host.name])
        _sh(["ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", host.name])
        _sh(["ip", "link", "set", veth, "master", bridge, "up"])
        _sh(["ip", "-n", host.name, "addr", "add", f"{host.ip}/24", "dev", "eth0"])
        _sh(["ip", "-n", host.name, "link", "set", "eth0", "up"])
        _sh(["ip", "-n", host.name, "link", "set", "lo", "up"])
        self._hold(host)

    def _hold(self, host: Host) -> None:
        host.temp.mkdir(parents=True, exist_ok=True)
        Path("/tmp/ray").mkdir(exist_ok=True)  # the mount point of the host's own Ray temp directory
        # The holder keeps the host's mount namespace alive: a fresh tmpfs on /dev/shm (Ray's object store, the PE
        # mailboxes) and the host's own directory on /tmp/ray (Ray's sessions, sockets and current-cluster file).
        setup = f"mount -t tmpfs -o size=4g tmpfs /dev/shm && mount --bind {host.temp} /tmp/ray && exec sleep infinity"
        holder = subprocess.Popen(
            ["ip", "netns", "exec", host.name, "unshare", "--mount", "--propagation", "private", "sh", "-c", setup],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if holder.poll() is not None:
                raise RuntimeError(f"host {host.index}: could not mount its /dev/shm and /tmp/ray")
            # ip, unshare and sh each exec the next, so the holder's pid becomes sleep's once the mounts are made.
            if Path(f"/proc/{holder.pid}/comm").read_text().strip() == "sleep":
                break
            time.sleep(0.05)
        host.holder = holder.pid

    def _start_ray(self, host: Host, head: bool) -> None:
        ray = str(self.venv_bin / "ray")
        pe = self.head_pe if head else self.pe_per_host
        argv = [ray, "start", "--node-ip-address", host.ip, "--num-cpus", str(self.cpus_per_host),
                "--resources", json.dumps({"pe": pe}), "--disable-usage-stats"]
        if head:
            argv += ["--head", "--port", str(HEAD_PORT), "--include-dashboard", str(self.dashboard).lower(),
                     "--dashboard-host", "0.0.0.0", "--dashboard-port", str(DASHBOARD_PORT)]
        else:
            argv += ["--address", self.head_address]
        done = self.run(host.index, argv, timeout=180)
        if done.returncode != 0:
            raise RuntimeError(f"host {host.index}: ray start failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")

    def restart(self, index: int, timeout_s: float = 120.0) -> None:
        """Bring host ``index`` back after :meth:`kill` (a fresh /dev/shm and Ray temp directory, a new raylet
        joining the head), as a repaired machine rejoins; waits until the head counts every host alive again."""
        if index == 0:
            raise ValueError("the head cannot be restarted: its loss ends the cluster")
        host = self.hosts[index]
        self.kill(index)
        shutil.rmtree(host.temp, ignore_errors=True)
        self._hold(host)
        self._save()
        self._start_ray(host, head=False)
        self.wait_for_nodes(len(self.hosts), timeout_s)

    def wait_for_nodes(self, count: int, timeout_s: float = 120.0) -> None:
        """Wait until the head counts ``count`` live nodes."""
        probe = "import ray, json; ray.init(address='auto', log_to_driver=False); " \
                "print(json.dumps(sum(1 for n in ray.nodes() if n['Alive'])))"
        deadline = time.monotonic() + timeout_s
        alive = 0
        while time.monotonic() < deadline:
            done = self.run(0, [sys.executable, "-c", probe], timeout=120)
            if done.returncode == 0:
                alive = int(done.stdout.strip().splitlines()[-1])
                if alive >= count:
                    return
            time.sleep(1.0)
        raise RuntimeError(f"only {alive} of {count} hosts joined the head within {timeout_s:g} s")

    # --- using ----------------------------------------------------------------------------------------------

    def command(self, index: int, argv: list[str], cwd: str | Path | None = None) -> list[str]:
        """``argv`` as run on host ``index`` (inside its network and mount namespaces, in ``cwd``, default this
        process's working directory)."""
        wd = os.fspath(cwd or os.getcwd())
        return ["nsenter", "-t", str(self.hosts[index].holder), "-n", "-m", f"--wd={wd}", "--", *argv]

    def run(self, index: int, argv: list[str], capture: bool = True, **kwargs) -> subprocess.CompletedProcess:
        """Run ``argv`` on host ``index`` and return its completed process (output captured as text unless
        ``capture`` is False); ``env`` adds variables, other keywords go to :func:`subprocess.run`."""
        env = {key: value for key, value in os.environ.items() if key != "RAY_ADDRESS"}  # the host's own cluster
        # Token authentication, as Ray 2.60 starts a head by default: every host reads the one token in
        # ~/.ray/auth_token, as a real cluster's hosts get it propagated.
        env["RAY_AUTH_MODE"] = "token"
        env.update(kwargs.pop("env", {}))
        command = self.command(index, argv, kwargs.pop("cwd", None))
        return subprocess.run(command, capture_output=capture, text=True, env=env, **kwargs)

    def kill(self, index: int) -> int:
        """Kill every process of host ``index`` at once (SIGKILL), as a machine that loses power; returns how many.
        The host's namespace stays, empty; its raylet is gone, so Ray marks the node dead."""
        pids = self.hosts[index].pids()
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        return len(pids)

    def _save(self) -> None:
        state = {
            "hosts": [{"index": h.index, "holder": h.holder} for h in self.hosts], "head": self.head_address,
            "pe_per_host": self.pe_per_host, "head_pe": self.head_pe, "cpus_per_host": self.cpus_per_host,
            "dashboard": self.dashboard,
        }
        STATE.write_text(json.dumps(state))

    @classmethod
    def load(cls) -> TestBed:
        """The test bed ``up`` left running (from its state file)."""
        state = json.loads(STATE.read_text())
        bed = cls(
            hosts=len(state["hosts"]), pe_per_host=state["pe_per_host"], head_pe=state["head_pe"],
            cpus_per_host=state["cpus_per_host"], dashboard=state["dashboard"],
        )
        for host, saved in zip(bed.hosts, state["hosts"], strict=True):
            host.holder = saved["holder"]
        return bed

    def __enter__(self) -> TestBed:
        return self.up()

    def __exit__(self, *exc) -> None:
        down()


def down() -> list[str]:
    """Remove every trace of a test bed (this run's or a crashed one's): the processes in its namespaces, the
    namespaces, the bridge and veths, the temp directories. Returns the namespaces removed."""
    listed = _sh(["ip", "netns", "list"], check=False).stdout.split("\n")
    names = [line.split()[0] for line in listed if line.startswith(f"{PREFIX}-h")]
    for name in names:
        for pid in _sh(["ip", "netns", "pids", name], check=False).stdout.split():
            try:
                os.kill(int(pid), signal.SIGKILL)
            except ProcessLookupError:
                pass
    deadline = time.monotonic() + 10
    while any(_sh(["ip", "netns", "pids", name], check=False).stdout.strip() for name in names):
        if time.monotonic() > deadline:
            break
        time.sleep(0.1)
    for name in names:
        _sh(["ip", "netns", "del", name], check=False)
    links = _sh(["ip", "-o", "link", "show"], check=False).stdout.splitlines()
    for line in links:
        link = line.split(":")[1].strip().split("@")[0]
        if link.startswith(f"{PREFIX}-"):
            _sh(["ip", "link", "del", link], check=False)
    shutil.rmtree(ROOT, ignore_errors=True)
    try:
        os.rmdir("/tmp/ray")  # the mount point, if the test bed made it and no local Ray has used it since
    except OSError:
        pass
    return names


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("up", help="make the hosts and start Ray on them")
    up.add_argument("--hosts", type=int, default=3, help="number of hosts; host 0 is the head (default 3)")
    up.add_argument("--pe", type=int, default=6, help="pe slots each host declares (default 6)")
    up.add_argument("--head-pe", type=int, default=None, help="pe slots of the head (default: --pe)")
    up.add_argument("--cpus", type=int, default=1, help="CPUs each host's raylet declares (default 1)")
    run = commands.add_parser("run", help="run a command on a host (after --)")
    run.add_argument("host", type=int, help="the host's index")
    run.add_argument("argv", nargs=argparse.REMAINDER, help="the command")
    kill = commands.add_parser("kill", help="kill every process of a host")
    kill.add_argument("host", type=int, help="the host's index")
    restart = commands.add_parser("restart", help="bring a killed host back (it rejoins the head)")
    restart.add_argument("host", type=int, help="the host's index (not 0, the head)")
    commands.add_parser("down", help="remove every trace of the test bed")
    args = parser.parse_args()
    why = namespaces_unavailable() if args.command == "up" else ""
    if why:
        sys.exit(f"testbed: {why}")
    if args.command == "up":
        bed = TestBed(hosts=args.hosts, pe_per_host=args.pe, head_pe=args.head_pe, cpus_per_host=args.cpus).up()
        print(f"{len(bed.hosts)} hosts up; Ray head {bed.head_address}, dashboard {bed.dashboard_url}")
    elif args.command == "run":
        argv = args.argv[1:] if args.argv[:1] == ["--"] else args.argv
        bed = TestBed.load()
        sys.exit(bed.run(args.host, argv, capture=False).returncode)
    elif args.command == "kill":
        print(f"killed {TestBed.load().kill(args.host)} processes of host {args.host}")
    elif args.command == "restart":
        TestBed.load().restart(args.host)
        print(f"host {args.host} is back")
    else:
        print(f"removed {len(down())} hosts")


if __name__ == "__main__":
    main()
