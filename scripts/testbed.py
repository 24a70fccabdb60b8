"""A multi-host Ray test bed on one machine: N hosts, each a Linux network namespace with an address of its own on
a bridge and a mount namespace with its own ``/dev/shm`` (a fresh tmpfs) and its own Ray temp directory, so that
what one host writes to shared memory or to Ray's sockets no other host can see, as on separate machines. Host 0
runs the Ray head (GCS, dashboard); every host runs a raylet declaring ``pe`` slots. Needs root.

    sudo .venv/bin/python scripts/testbed.py up --hosts 3 --pe 6       (prints its name and the head's address)
    sudo .venv/bin/python scripts/testbed.py run 0 -- .venv/bin/pe-actors train --engine actors --address HEAD:6379
    sudo .venv/bin/python scripts/testbed.py kill 2                     (every process of host 2, as a power cut)
    sudo .venv/bin/python scripts/testbed.py restart 2                  (host 2 back, rejoining the head)
    sudo .venv/bin/python scripts/testbed.py list                       (the test beds on this machine)
    sudo .venv/bin/python scripts/testbed.py down                       (removes every trace: processes, namespaces,
                                                                         the bridge, the temp directories)

From Python (the tests' fixture): ``with TestBed(hosts=3, pe_per_host=6) as bed: bed.run(0, [...])``.

Several test beds run side by side (two test suites on one machine): each ``up`` claims the first free instance
``petb<k>`` (an atomic ``mkdir`` of its directory), and everything it makes carries that name: the namespaces
``petb<k>-h<i>``, the bridge ``petb<k>-br``, the veths ``petb<k>-v<i>``, the subnet 10.231.<k>.0/24 and the
directory /tmp/petb/petb<k>. ``run``, ``kill``, ``restart`` and ``down`` act on the one named by ``--bed`` (by
default the only one, or the one whose host runs the command, see :data:`BED_VARIABLE`), and refuse a name this
tool did not make; a ``TestBed`` object removes only its own instance.

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

#: Every test bed's name is this and its instance number, and the names of everything it creates start with its own.
PREFIX = "petb"
#: Where each instance's directory (its state file, each host's Ray temp directory) lives.
ROOT = Path("/tmp") / PREFIX
#: Instance k's hosts share the private network 10.231.k.0/24: the bridge (this machine's side) is .1, host i
#: is .(10 + i).
NETWORK = "10.231"
MAX_INSTANCES = 200
#: Set in every command a test bed runs on its hosts, so that a driver there finds its own test bed.
BED_VARIABLE = "PE_TESTBED"
HEAD_PORT = 6379
DASHBOARD_PORT = 8265


class TestBedError(RuntimeError):
    """A test bed that does not exist, was not made by this tool, or cannot be made; the message says which."""

    __test__ = False


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
    probe = f"{PREFIX}-probe{os.getpid()}"  # another suite may probe at the same moment
    made = _sh(["ip", "netns", "add", probe], check=False)
    if made.returncode != 0:
        return f"cannot make a network namespace: {made.stderr.strip()}"
    _sh(["ip", "netns", "del", probe], check=False)
    return ""


@dataclass
class Host:
    """One emulated host of test bed ``bed`` (instance ``number``): its index, network namespace, address and the
    process holding its mount namespace."""

    index: int
    bed: str
    number: int
    holder: int = 0

    @property
    def name(self) -> str:
        return f"{self.bed}-h{self.index}"

    @property
    def ip(self) -> str:
        return f"{NETWORK}.{self.number}.{10 + self.index}"

    @property
    def temp(self) -> Path:
        return ROOT / self.bed / f"h{self.index}"

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
        self.n_hosts = hosts
        self.hosts: list[Host] = []
        self.name = ""
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

    @property
    def directory(self) -> Path:
        return ROOT / self.name

    def up(self, timeout_s: float = 180.0) -> TestBed:
        """Claim a free instance, make its bridge and hosts and start Ray on each; on any failure everything this
        instance made is removed (and nothing of another instance is touched)."""
        self.name, number = _claim()
        self.hosts = [Host(i, self.name, number) for i in range(self.n_hosts)]
        try:
            self._save()  # first, so that `down` can find whatever the steps below leave if this process dies
            bridge = f"{self.name}-br"
            _sh(["ip", "link", "add", bridge, "type", "bridge"])
            _sh(["ip", "addr", "add", f"{NETWORK}.{number}.1/24", "dev", bridge])
            _sh(["ip", "link", "set", bridge, "up"])
            for host in self.hosts:
                self._make_host(host, bridge)
            self._save()
            self._start_ray(self.hosts[0], head=True)
            for host in self.hosts[1:]:
                self._start_ray(host, head=False)
            self.wait_for_nodes(len(self.hosts), timeout_s)
        except BaseException:
            down(self.name)
            raise
        return self

    def _make_host(self, host: Host, bridge: str) -> None:
        veth = f"{self.name}-v{host.index}"
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
                raise TestBedError(f"{host.name}: could not mount its /dev/shm and /tmp/ray")
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
            raise TestBedError(f"{host.name}: ray start failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")

    def host(self, index: int) -> Host:
        """Host ``index``; a TestBedError names the hosts there are."""
        if not 0 <= index < len(self.hosts):
            raise TestBedError(f"{self.name} has hosts 0-{len(self.hosts) - 1}, not {index}")
        return self.hosts[index]

    def restart(self, index: int, timeout_s: float = 120.0) -> None:
        """Bring host ``index`` back after :meth:`kill` (a fresh /dev/shm and Ray temp directory, a new raylet
        joining the head), as a repaired machine rejoins; waits until the head counts every host alive again."""
        if index == 0:
            raise TestBedError("the head cannot be restarted: its loss ends the cluster")
        host = self.host(index)
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
        raise TestBedError(f"{self.name}: only {alive} of {count} hosts joined the head within {timeout_s:g} s")

    # --- using ----------------------------------------------------------------------------------------------

    def command(self, index: int, argv: list[str], cwd: str | Path | None = None) -> list[str]:
        """``argv`` as run on host ``index`` (inside its network and mount namespaces, in ``cwd``, default this
        process's working directory)."""
        wd = os.fspath(cwd or os.getcwd())
        return ["nsenter", "-t", str(self.host(index).holder), "-n", "-m", f"--wd={wd}", "--", *argv]

    def run(self, index: int, argv: list[str], capture: bool = True, **kwargs) -> subprocess.CompletedProcess:
        """Run ``argv`` on host ``index`` and return its completed process (output captured as text unless
        ``capture`` is False); ``env`` adds variables, other keywords go to :func:`subprocess.run`."""
        env = {key: value for key, value in os.environ.items() if key != "RAY_ADDRESS"}  # the host's own cluster
        # Token authentication, as Ray 2.60 starts a head by default: every host reads the one token in
        # ~/.ray/auth_token, as a real cluster's hosts get it propagated.
        env["RAY_AUTH_MODE"] = "token"
        env[BED_VARIABLE] = self.name
        env.update(kwargs.pop("env", {}))
        command = self.command(index, argv, kwargs.pop("cwd", None))
        return subprocess.run(command, capture_output=capture, text=True, env=env, **kwargs)

    def kill(self, index: int) -> int:
        """Kill every process of host ``index`` at once (SIGKILL), as a machine that loses power; returns how many.
        The host's namespace stays, empty; its raylet is gone, so Ray marks the node dead."""
        pids = self.host(index).pids()
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        return len(pids)

    def _save(self) -> None:
        state = {
            "name": self.name, "hosts": [{"index": h.index, "holder": h.holder} for h in self.hosts],
            "number": self.hosts[0].number, "head": self.head_address, "pe_per_host": self.pe_per_host,
            "head_pe": self.head_pe, "cpus_per_host": self.cpus_per_host, "dashboard": self.dashboard,
        }
        scratch = self.directory / "state.json.tmp"
        scratch.write_text(json.dumps(state))
        os.replace(scratch, self.directory / "state.json")

    @classmethod
    def load(cls, name: str | None = None) -> TestBed:
        """The test bed ``name`` (default: the one named by :data:`BED_VARIABLE`, else the only one) that ``up``
        left running, from its state file; a TestBedError says when there is none or which ones there are."""
        name = name or os.environ.get(BED_VARIABLE) or _only_instance()
        try:
            state = json.loads((ROOT / name / "state.json").read_text())
        except (OSError, ValueError):
            raise TestBedError(f"no test bed {name!r} made by this tool ({_listing()})") from None
        bed = cls(
            hosts=len(state["hosts"]), pe_per_host=state["pe_per_host"], head_pe=state["head_pe"],
            cpus_per_host=state["cpus_per_host"], dashboard=state["dashboard"],
        )
        bed.name = name
        bed.hosts = [Host(saved["index"], name, state["number"], saved["holder"]) for saved in state["hosts"]]
        return bed

    def __enter__(self) -> TestBed:
        return self.up()

    def __exit__(self, *exc) -> None:
        down(self.name)


def instances() -> list[str]:
    """The test beds this tool made on this machine (running or left by a crashed run), by name."""
    if not ROOT.is_dir():
        return []
    found = [path.parent.name for path in ROOT.glob(f"{PREFIX}*/state.json")]
    return sorted(found, key=lambda name: int(name[len(PREFIX):]) if name[len(PREFIX):].isdigit() else -1)


def _listing() -> str:
    made = instances()
    return f"the test beds are {', '.join(made)}" if made else "there is none: `testbed.py up` makes one"


def _only_instance() -> str:
    made = instances()
    if len(made) != 1:
        raise TestBedError(f"name the test bed with --bed: {_listing()}")
    return made[0]


def _claim() -> tuple[str, int]:
    """A free instance (name, number), claimed by making its directory (an atomic ``mkdir``): one whose names
    no namespace, link or address of this machine uses yet."""
    ROOT.mkdir(parents=True, exist_ok=True)
    used = _sh(["ip", "-o", "addr", "show"], check=False).stdout + _sh(["ip", "-o", "link", "show"], check=False).stdout
    used += _sh(["ip", "netns", "list"], check=False).stdout
    for number in range(MAX_INSTANCES):
        name = f"{PREFIX}{number}"
        if f"{name}-" in used or f" {NETWORK}.{number}." in used:
            continue  # another tool's, or a crashed test bed's leftovers without a state file
        try:
            (ROOT / name).mkdir()
        except FileExistsError:
            continue
        return name, number
    raise TestBedError(f"all {MAX_INSTANCES} test bed instances are in use ({_listing()})")


def down(name: str) -> list[str]:
    """Remove every trace of test bed ``name`` (a running one or a crashed one's leftovers): the processes in its
    namespaces, the namespaces, its bridge and veths, its directory. Nothing of another test bed is touched.
    Returns the namespaces removed."""
    if not name.startswith(PREFIX) or not name[len(PREFIX):].isdigit() or not (ROOT / name).is_dir():
        raise TestBedError(f"no test bed {name!r} made by this tool ({_listing()})")
    listed = _sh(["ip", "netns", "list"], check=False).stdout.split("\n")
    names = [line.split()[0] for line in listed if line.startswith(f"{name}-h")]
    for namespace in names:
        for pid in _sh(["ip", "netns", "pids", namespace], check=False).stdout.split():
            try:
                os.kill(int(pid), signal.SIGKILL)
            except ProcessLookupError:
                pass
    deadline = time.monotonic() + 10
    while any(_sh(["ip", "netns", "pids", namespace], check=False).stdout.strip() for namespace in names):
        if time.monotonic() > deadline:
            break
        time.sleep(0.1)
    for namespace in names:
        _sh(["ip", "netns", "del", namespace], check=False)
    links = _sh(["ip", "-o", "link", "show"], check=False).stdout.splitlines()
    for line in links:
        link = line.split(":")[1].strip().split("@")[0]
        if link.startswith(f"{name}-"):
            _sh(["ip", "link", "del", link], check=False)
    shutil.rmtree(ROOT / name, ignore_errors=True)
    if not instances():
        for directory in (ROOT, Path("/tmp/ray")):  # the mount point, if no local Ray has used it since
            try:
                os.rmdir(directory)
            except OSError:
                pass
    return names


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bed", default=None,
                        help="the test bed to act on, e.g. petb1 (default: the only one; `list` shows them)")
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("up", help="make a new test bed (the first free instance) and start Ray on it")
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
    commands.add_parser("list", help="the test beds this tool made on this machine")
    commands.add_parser("down", help="remove every trace of the test bed")
    args = parser.parse_args()
    why = namespaces_unavailable() if args.command == "up" else ""
    if why:
        sys.exit(f"testbed: {why}")
    try:
        if args.command == "up":
            bed = TestBed(hosts=args.hosts, pe_per_host=args.pe, head_pe=args.head_pe, cpus_per_host=args.cpus).up()
            print(f"{bed.name}: {len(bed.hosts)} hosts up; Ray head {bed.head_address}, dashboard {bed.dashboard_url}")
        elif args.command == "run":
            argv = args.argv[1:] if args.argv[:1] == ["--"] else args.argv
            bed = TestBed.load(args.bed)
            sys.exit(bed.run(args.host, argv, capture=False).returncode)
        elif args.command == "kill":
            bed = TestBed.load(args.bed)
            print(f"killed {bed.kill(args.host)} processes of host {args.host} of {bed.name}")
        elif args.command == "restart":
            bed = TestBed.load(args.bed)
            bed.restart(args.host)
            print(f"host {args.host} of {bed.name} is back")
        elif args.command == "list":
            if not instances():
                print("no test beds (`testbed.py up` makes one)")
            for name in instances():
                bed = TestBed.load(name)
                print(f"{name}: {len(bed.hosts)} hosts, Ray head {bed.head_address}")
        else:
            name = args.bed or _only_instance()
            print(f"{name}: removed {len(down(name))} hosts")
    except TestBedError as error:
        sys.exit(f"testbed: {error}")


if __name__ == "__main__":
    main()
