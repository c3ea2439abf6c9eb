"""The chart's replication settings match what the failover and cluster tests show
(tests/e2e/test_db_failover.py, tests/e2e/test_nats_cluster.py): CloudNativePG with synchronous
replicas, and the event streams replicated on the nats subchart's cluster."""

from __future__ import annotations

import copy

import helm_python as helm

from steward.devtools.chart import RELEASE, VARIANTS, of_kind, one, render


def test_cloudnativepg_commits_wait_for_a_synchronous_standby(chart: helm.Chart) -> None:
    (cluster,) = of_kind(render(chart, VARIANTS["cnpg"]), "Cluster")
    sync = cluster["spec"]["postgresql"]["synchronous"]
    assert sync == {"method": "any", "number": 1, "dataDurability": "required"}
    assert cluster["spec"]["instances"] > sync["number"]  # a standby left to promote


def test_synchronous_replication_can_be_turned_off(chart: helm.Chart) -> None:
    values = copy.deepcopy(VARIANTS["cnpg"])
    values["postgresql"]["cnpg"]["postgresql"] = {"synchronous": None}
    (cluster,) = of_kind(render(chart, values), "Cluster")
    assert "synchronous" not in cluster["spec"]["postgresql"]


def test_streams_are_replicated_on_the_nats_subcharts_cluster(chart: helm.Chart) -> None:
    config = one(render(chart, {"nats": {"enabled": True}}), "ConfigMap", f"{RELEASE}-issues")["data"]
    assert config["STEWARD_EVENTS_STREAM_REPLICAS"] == "3"
    external = one(render(chart), "ConfigMap", f"{RELEASE}-issues")["data"]
    assert "STEWARD_EVENTS_STREAM_REPLICAS" not in external  # an external NATS: set it in extraEnv
    mine = {"nats": {"enabled": True}, "config": {"extraEnv": {"STEWARD_EVENTS_STREAM_REPLICAS": "1"}}}
    assert (
        one(render(chart, mine), "ConfigMap", f"{RELEASE}-issues")["data"]["STEWARD_EVENTS_STREAM_REPLICAS"]
        == "1"
    )
