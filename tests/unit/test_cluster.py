"""The training cluster from resourceconfig.json: host order, chief, TF_CONFIG, bad configs."""

from __future__ import annotations

import json
import socket

import pytest

from byoc.errors import UserError
from byoc.training import cluster
from byoc.training.cluster import Cluster


def _config(current, hosts):
    # The shape SageMaker writes (newer files also carry instance groups and topology).
    return {"current_host": current, "hosts": hosts, "network_interface_name": "eth0",
            "current_instance_type": "ml.m5.xlarge", "current_group_name": "homogeneousCluster",
            "instance_groups": [{"instance_group_name": "homogeneousCluster",
                                 "instance_type": "ml.m5.xlarge", "hosts": hosts}]}


def test_sagemaker_hosts_in_sagemakers_order():
    hosts = [f"algo-{i}" for i in (10, 2, 1, 3, 4, 5, 6, 7, 8, 9, 11)]
    c = Cluster.from_resource_config(_config("algo-10", hosts), environ={})
    assert c.hosts[:3] == ("algo-1", "algo-2", "algo-3") and c.hosts[-2:] == ("algo-10", "algo-11")
    assert c.index == 9 and c.chief == "algo-1" and not c.is_chief and c.size == 11
    assert c.tf_config() == {
        "cluster": {"worker": [f"algo-{i}:2222" for i in range(1, 12)]},
        "task": {"type": "worker", "index": 9}}


def test_sdk_local_mode_names():
    # The SageMaker Python SDK's local mode names hosts algo-1-<5 random characters>.
    hosts = ["algo-2-x7k2p", "algo-1-ab3de"]
    chief = Cluster.from_resource_config(_config("algo-1-ab3de", hosts), environ={})
    worker = Cluster.from_resource_config(_config("algo-2-x7k2p", hosts), environ={})
    assert chief.is_chief and chief.index == 0 and chief.peers == ("algo-2-x7k2p",)
    assert worker.tf_config()["cluster"] == chief.tf_config()["cluster"]
    assert worker.tf_config()["task"] == {"type": "worker", "index": 1}


def test_one_host_and_a_missing_file():
    assert Cluster.from_resource_config({}, environ={}).hosts == ("algo-1",)
    c = Cluster.from_resource_config(_config("algo-1", ["algo-1"]), environ={})
    assert c.size == 1 and c.is_chief and c.peers == ()


def test_port_from_the_environment():
    c = Cluster.from_resource_config(_config("algo-1", ["algo-1", "algo-2"]),
                                     environ={cluster.PORT_ENV: "7777"})
    assert c.tf_config()["cluster"]["worker"] == ["algo-1:7777", "algo-2:7777"]
    for bad in ("80", "http", "70000"):
        with pytest.raises(UserError, match=cluster.PORT_ENV):
            Cluster.from_resource_config({}, environ={cluster.PORT_ENV: bad})


@pytest.mark.parametrize("config,fragment", [
    (_config("algo-3", ["algo-1", "algo-2"]), "current_host 'algo-3' is not one of the hosts"),
    (_config("algo-1", ["algo-1", "algo-2", "algo-1"]), "algo-1 more than once"),
    ({"current_host": "algo-1", "hosts": "algo-1"}, "must be a list"),
])
def test_configs_that_cannot_be_a_job(config, fragment):
    with pytest.raises(UserError, match=fragment):
        Cluster.from_resource_config(config, environ={})


def test_a_tf_config_set_by_the_user_wins():
    c = Cluster.from_resource_config(_config("algo-1", ["algo-1", "algo-2"]), environ={})
    mine = {"cluster": {"worker": ["a:1", "b:1"]}, "task": {"type": "worker", "index": 1}}
    environ = {cluster.TF_CONFIG_ENV: json.dumps(mine)}
    assert cluster.configure(c, environ) == mine
    assert json.loads(environ[cluster.TF_CONFIG_ENV]) == mine
    environ = {}
    assert cluster.configure(c, environ) == c.tf_config()
    assert json.loads(environ[cluster.TF_CONFIG_ENV]) == c.tf_config()
    with pytest.raises(UserError, match="not JSON"):
        cluster.configure(c, {cluster.TF_CONFIG_ENV: "{worker"})


def test_peers_that_resolve_late_are_waited_for():
    c = Cluster.from_resource_config(_config("algo-1", ["algo-1", "algo-2", "algo-3"]), environ={})
    attempts = {"algo-2": 0, "algo-3": 0}
    now = [0.0]

    def resolve(host):  # algo-3 appears in DNS on the third look-up
        attempts[host] += 1
        if host == "algo-3" and attempts[host] < 3:
            raise socket.gaierror("not yet")

    def sleep(seconds):
        now[0] += seconds

    cluster.resolve_peers(c.peers, timeout=60, me=c.current_host, resolve=resolve,
                          clock=lambda: now[0], sleep=sleep)
    assert attempts == {"algo-2": 1, "algo-3": 3}
    assert 0 < now[0] < 60


def test_a_peer_that_never_resolves_is_named():
    c = Cluster.from_resource_config(_config("algo-2", ["algo-1", "algo-2"]), environ={})
    now = [0.0]

    def never(host):
        raise socket.gaierror("no such host")

    def sleep(seconds):
        now[0] += seconds

    with pytest.raises(UserError, match=r"Host\(s\) algo-1 .* within 30 s \(this is algo-2\)"):
        cluster.resolve_peers(c.peers, timeout=30, me=c.current_host, resolve=never,
                              clock=lambda: now[0], sleep=sleep)
    assert now[0] == pytest.approx(30)


def test_real_names_resolve():
    c = Cluster.from_resource_config(_config("algo-1", ["algo-1", "localhost"]), environ={})
    assert list(c.peers) == ["localhost"]
    # The real resolver: a name every machine has resolves without a single wait, and a name
    # that cannot exist (RFC 2606's .invalid) fails the job with a reason that names it.
    pauses = []
    cluster.resolve_peers(c.peers, timeout=5, me=c.current_host, sleep=pauses.append)
    assert pauses == []
    with pytest.raises(UserError, match=r"Host\(s\) algo-9\.invalid of this job did not resolve"):
        cluster.resolve_peers(["algo-9.invalid"], timeout=0, me=c.current_host)


def test_a_port_in_use_is_refused():
    with socket.socket() as sock:
        sock.bind(("0.0.0.0", 0))
        sock.listen()
        with pytest.raises(UserError, match=f"Port {sock.getsockname()[1]} is already in use"):
            cluster.check_port_free(sock.getsockname()[1])


def test_peer_timeout_from_the_environment():
    assert cluster.peer_timeout({}) == cluster.DEFAULT_PEER_TIMEOUT
    assert cluster.peer_timeout({cluster.PEER_TIMEOUT_ENV: "12.5"}) == 12.5
    with pytest.raises(UserError, match=cluster.PEER_TIMEOUT_ENV):
        cluster.peer_timeout({cluster.PEER_TIMEOUT_ENV: "0"})


def test_worker_addresses_of_a_tf_config():
    c = Cluster.from_resource_config(_config("algo-2", ["algo-1", "algo-2"]), environ={})
    assert cluster.worker_addresses(c.tf_config()) == ([("algo-1", 2222), ("algo-2", 2222)], 1)
    with pytest.raises(UserError, match="not HOST:PORT"):
        cluster.worker_addresses({"cluster": {"worker": ["algo-1"]}, "task": {"index": 0}})
    with pytest.raises(UserError, match="workers only"):
        cluster.worker_addresses({"cluster": {"worker": ["a:1"], "chief": ["c:1"]},
                                  "task": {"type": "chief", "index": 0}})
