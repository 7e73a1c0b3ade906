"""The deployment files, run: docker-compose.yml's three peers and the Kubernetes StatefulSet's
three pods, each with the start-up command and environment the file gives it (see
`deploy_helpers.py` for what stands in for the container runtime). The cluster forms, serves
replicated writes and reads, and a killed peer comes back under its id with the same command."""

from __future__ import annotations

import shutil

import pytest
import requests
import yaml

from deploy_helpers import Container, hosts_entries, name_resolution_available
from quiver_server import REPO_ROOT, quiver_bin

pytestmark = pytest.mark.skipif(not name_resolution_available(),
                                reason="needs a mount namespace (unshare) or a writable /etc/hosts")


def wait_until(predicate, timeout=30.0, desc=""):
    import time

    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
            if last:
                return last
        except (requests.RequestException, KeyError, ValueError) as e:
            last = e
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {desc}: {last!r}")


def exercise(containers: list[Container], headers: dict[str, str]) -> None:
    """3 peers agree; a replicated collection takes writes on one peer and serves them on another;
    a killed peer restarts with the same command and rejoins under its id."""
    def peers(c: Container) -> dict:
        return requests.get(c.url + "/cluster", headers=headers, timeout=5).json()["result"]["peers"]

    for c in containers:
        wait_until(lambda c=c: len(peers(c)) == 3, desc=f"{c.name} sees 3 peers")
    first, second, third = containers
    r = requests.put(first.url + "/collections/deployed", headers=headers, timeout=30,
                     json={"vectors": {"size": 2, "distance": "Dot"}, "shard_number": 3})
    assert r.status_code == 200, r.text
    info = requests.get(first.url + "/collections/deployed", headers=headers, timeout=5).json()["result"]
    assert info["config"]["params"]["replication_factor"] == 2  # from the deployment's configuration
    points = [{"id": i, "vector": [1.0, float(i)], "payload": {"n": i}} for i in range(30)]
    r = requests.put(first.url + "/collections/deployed/points?wait=true", headers=headers, timeout=30,
                     json={"points": points})
    assert r.status_code == 200, r.text
    count = lambda c: requests.post(c.url + "/collections/deployed/points/count", headers=headers,  # noqa: E731
                                    json={"exact": True}, timeout=5).json()["result"]["count"]
    assert wait_until(lambda: count(third) == 30, desc="count on another peer")
    before = requests.get(second.url + "/cluster", headers=headers, timeout=5).json()["result"]["peer_id"]
    second.kill()
    second.start().wait_ready()
    after = requests.get(second.url + "/cluster", headers=headers, timeout=5).json()["result"]["peer_id"]
    assert after == before
    assert wait_until(lambda: count(second) == 30, desc="the restarted peer serves the points")


@pytest.fixture
def started():
    containers: list[Container] = []
    yield containers
    for c in containers:
        c.kill()
    for c in containers:
        shutil.rmtree(c.workdir, ignore_errors=True)


def test_compose_topology_runs(started):
    compose = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert list(services) == ["quiver-0", "quiver-1", "quiver-2"]
    addresses = {name: f"127.0.0.{11 + i}" for i, name in enumerate(services)}
    with hosts_entries(addresses) as prefix:
        for name, service in services.items():
            env = {k: str(v) for k, v in service["environment"].items()}
            c = Container(name, addresses[name], [str(quiver_bin()), *service["command"]], env, prefix=prefix)
            started.append(c)
            c.start()
            # depends_on: condition service_healthy (the image's HEALTHCHECK on /readyz).
            if name == "quiver-0":
                c.wait_ready()
        for c in started:
            c.wait_ready()
        exercise(started, headers={})


def manifest_objects() -> dict[str, dict]:
    docs = [d for d in yaml.safe_load_all((REPO_ROOT / "deploy/kubernetes/quiver.yaml").read_text()) if d]
    return {f"{d['kind']}/{d['metadata']['name']}": d for d in docs}


def pod_env(container: dict, objects: dict, pod: str, namespace: str) -> dict[str, str]:
    """The container's env as Kubernetes resolves it for `pod`."""
    env = {}
    for item in container["env"]:
        source = item.get("valueFrom")
        if source is None:
            env[item["name"]] = str(item["value"])
        elif "fieldRef" in source:
            field = source["fieldRef"]["fieldPath"]
            env[item["name"]] = {"metadata.name": pod, "metadata.namespace": namespace}[field]
        else:
            ref = source["secretKeyRef"]
            env[item["name"]] = objects[f"Secret/{ref['name']}"]["stringData"][ref["key"]]
    return env


def test_statefulset_runs(started):
    objects = manifest_objects()
    statefulset = objects["StatefulSet/quiver"]
    assert objects["Service/quiver-headless"]["spec"]["clusterIP"] == "None"
    assert objects["PodDisruptionBudget/quiver"]["spec"]["maxUnavailable"] == 1
    spec = statefulset["spec"]["template"]["spec"]
    container = spec["containers"][0]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/livez"
    config = objects["ConfigMap/quiver-config"]["data"]
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    files = {"config/production.yaml": config[mounts["/qdrant/config/production.yaml"]["subPath"]]}
    namespace = "default"
    pods = [f"quiver-{i}" for i in range(statefulset["spec"]["replicas"])]
    domain = f"{statefulset['spec']['serviceName']}.{namespace}.svc.cluster.local"
    addresses = {f"{pod}.{domain}": f"127.0.0.{21 + i}" for i, pod in enumerate(pods)}
    key = objects["Secret/quiver-api-key"]["stringData"]["api-key"]
    with hosts_entries(addresses) as prefix:
        for pod, (host, address) in zip(pods, addresses.items()):
            env = pod_env(container, objects, pod, namespace)
            c = Container(pod, address, [*container["command"], *container["args"]], env, files, prefix)
            started.append(c)
            c.start().wait_ready()  # podManagementPolicy: OrderedReady
        assert requests.get(started[0].url + "/collections", timeout=5).status_code == 401
        # service.metrics_port from the ConfigMap: /metrics without the key.
        metrics = lambda: requests.get(f"http://{started[0].address}:9090/metrics", timeout=5)  # noqa: E731
        wait_until(lambda: "cluster_peers_total 3" in metrics().text, desc="metrics port")
        exercise(started, headers={"api-key": key})
