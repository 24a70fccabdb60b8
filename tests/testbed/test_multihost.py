"""PE actors on four emulated hosts (scripts/testbed.py: each host its own address, /dev/shm and Ray temp
directory), a driver on the head: groups spread over hosts train exactly as in-process PEs, a host that loses
power has its group rebuilt on the spare host and the run ends as an uninterrupted one, EventProp's layer PEs
and PCM synapses work across hosts, and the head's dashboard lists every host with its PE actors."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytestmark = pytest.mark.ray

EPROP = {"pes": 3, "groups": 3, "sub_batch": 2, "epochs": 2}


@pytest.fixture(scope="module")
def spread(train_on_bed):
    return train_on_bed(**EPROP)


def hosts_of_groups(report: dict, key: str = "hosts_before") -> list[set[str]]:
    return [set(ips) for _, ips in sorted(report[key].items(), key=lambda item: int(item[0]))]


def test_groups_on_three_hosts_train_exactly_as_in_process(spread):
    groups = hosts_of_groups(spread)
    assert all(len(ips) == 1 for ips in groups)  # shm transport: a group on one host
    assert len(set.union(*groups)) == 3  # the three groups on three hosts: the averaging crosses hosts
    assert spread["batches"] == 8 and spread["losses_equal"]  # every batch's train loss, bit for bit
    assert spread["state_max_diff"] == 0.0 and "v_w_rec" in spread["state_keys"]  # weights and ADAM moments


def test_the_dashboard_on_the_head_lists_every_host_and_its_pe_actors(spread, bed):
    view = spread["dashboard"]
    assert view["hosts"] == sorted(host.ip for host in bed.hosts)
    placed: dict[str, int] = {}
    for ips in spread["hosts_before"].values():
        for ip in ips:
            placed[ip] = placed.get(ip, 0) + 1
    assert view["pe_actors"] == placed and sum(placed.values()) == 9 and view["classes"] == ["PEActor"]


def test_eventprop_layer_pes_exchange_event_packets_across_hosts(train_on_bed):
    report = train_on_bed(rule="eventprop", pes=2, groups=2, sub_batch=4, epochs=2, max_samples=48, transport="ray")
    groups = hosts_of_groups(report)
    assert any(len(ips) > 1 for ips in groups)  # a group's layer PEs on two hosts: its packets cross them
    assert report["losses_equal"] and report["state_max_diff"] == 0.0 and "w_1" in report["state_keys"]


def test_pcm_synapses_across_hosts_equal_in_process(train_on_bed):
    report = train_on_bed(synapses="pcm", **EPROP)
    assert len(set.union(*hosts_of_groups(report))) == 3
    assert report["losses_equal"] and report["state_max_diff"] == 0.0  # device conductances and clocks too
    assert "g_pos_w_rec" in report["state_keys"] and "clock_s" in report["state_keys"]


def test_a_host_losing_power_has_its_group_rebuilt_on_the_spare_host(train_on_bed, bed):
    report = train_on_bed(kill_after_batch=12, **EPROP)
    killed = report["killed"]["host"]
    assert report["killed"]["processes"] >= 4  # the host's raylet, its PE workers, its holder
    assert report["killed"]["recovered_s"] > 0  # found, rebuilt and the batch trained again
    before, after = hosts_of_groups(report), hosts_of_groups(report, "hosts_after")
    moved = [g for g, ips in enumerate(before) if killed in ips]
    assert len(moved) == 1 and killed not in after[moved[0]]
    spare = {host.ip for host in bed.hosts} - set.union(*before)
    assert after[moved[0]] == spare  # rebuilt on the host that held no group
    assert report["batches"] == 8 and report["losses_equal"] and report["state_max_diff"] == 0.0
    bed.restart(next(host.index for host in bed.hosts if host.ip == killed))


def test_a_second_test_bed_runs_beside_this_one_and_leaves_it_alone(bed, testbed_tool):
    driver = subprocess.Popen(bed.command(0, ["sleep", "600"]))  # stands for a run's driver on the first test bed
    try:
        with testbed_tool.TestBed(hosts=1, pe_per_host=0, dashboard=False) as second:
            assert second.name != bed.name and {bed.name, second.name} <= set(testbed_tool.instances())
            assert second.hosts[0].ip not in {host.ip for host in bed.hosts}
            probe = "import ray; ray.init(address='auto', log_to_driver=False); print(len(ray.nodes()))"
            done = second.run(0, [sys.executable, "-c", probe], timeout=120)
            assert done.stdout.split()[-1] == "1"  # a cluster of its own, not joined to the first
        assert second.name not in testbed_tool.instances()
        assert driver.poll() is None  # the first test bed's processes live on
        bed.wait_for_nodes(len(bed.hosts), timeout_s=60)
    finally:
        driver.kill()
