"""Two replicas of every aigw service on one machine, as processes on their own loopback
addresses (127.0.0.x), sharing a private PostgreSQL database and a Redis of their own, with
HAProxy (an L7 balancer) in front of the routers (gRPC over h2c) and the REST shims (HTTP).

Replica `i` of a service listens on 127.0.0.<10 * service + i>; every port is free when taken.
Clients reach gRPC services the way they would in Kubernetes with a headless Service: one target
naming every replica (here `ipv4:a:p,b:q`), balanced round_robin by the client.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import sys
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from cryptography.fernet import Fernet

from aigw_cli.local_suite import free_ports
from aigw_cli.supervisor import grpc_serving, http_ok

READY_TIMEOUT_S = 60.0
_SERVICE_NUMBER = {
    "auth_svc": 1,
    "config_svc": 2,
    "model_proxy_svc": 3,
    "router_svc": 4,
    "rest_shim": 5,
}
# Settings section (AIGW_<SECTION>__*) of each gRPC service.
_SECTION = {
    "auth_svc": "AUTH_SVC",
    "config_svc": "CONFIG_SVC",
    "model_proxy_svc": "MODEL_PROXY",
    "router_svc": "ROUTER",
}


@dataclass
class Replica:
    service: str
    index: int
    host: str
    port: int
    process: asyncio.subprocess.Process
    metrics_port: int

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def name(self) -> str:
        return f"{self.service}-{self.index}"


@dataclass
class Cluster:
    base: Path
    database_url: str
    admin_credential: str
    credentials_key: str
    simulator_url: str
    redis_url: str = ""
    redis: asyncio.subprocess.Process | None = None
    replicas: list[Replica] = field(default_factory=list)
    haproxy: asyncio.subprocess.Process | None = None
    grpc_front: str = ""
    http_front: str = ""
    # Addresses reserved per service: the first `running` are started at once.
    planned: dict[str, list[tuple[str, int]]] = field(default_factory=dict)

    def of(self, service: str) -> list[Replica]:
        return [replica for replica in self.replicas if replica.service == service]

    def target(self, service: str) -> str:
        """Every planned replica of `service`, as one round_robin target."""
        return "ipv4:" + ",".join(f"{host}:{port}" for host, port in self.planned[service])

    def client_env(self) -> dict[str, str]:
        """What an `aigw` command (or a test's Settings) needs to reach this cluster."""
        return {
            "AIGW_AUTH__ADMIN_CREDENTIAL": self.admin_credential,
            "AIGW_AUTH_SVC__TARGET": self.target("auth_svc"),
            "AIGW_CONFIG_SVC__TARGET": self.target("config_svc"),
        }

    def env(self, service: str, index: int, host: str, port: int) -> dict[str, str]:
        data_dir = self.base / f"{service}-{index}"
        env = {
            "AIGW_ENVIRONMENT": "production",
            "AIGW_CLUSTER": "true",
            "AIGW_DATA_DIR": str(data_dir),
            "AIGW_DATABASE__URL": self.database_url,
            "AIGW_DATABASE__POLL_INTERVAL_S": "2",
            "AIGW_CREDENTIALS_KEY": self.credentials_key,
            "AIGW_REDIS__URL": self.redis_url,
            "AIGW_REDIS__LEASE_TTL_S": "3",
            "AIGW_LOGGING__TO_FILE": str(self.base / f"{service}-{index}.log"),
            "AIGW_METRICS__HOST": host,
            **self.client_env(),
            "AIGW_MODEL_PROXY__TARGET": self.target("model_proxy_svc"),
            "AIGW_ROUTER__TARGET": self.grpc_front,
            # Each router watches a different config_svc: a change made through either must
            # reach both.
            **(
                {"AIGW_CONFIG_SVC__TARGET": "{}:{}".format(*self.planned["config_svc"][index])}
                if service == "router_svc"
                else {}
            ),
        }
        if service == "rest_shim":
            env |= {
                "AIGW_FASTAPI__API_HOST": host,
                "AIGW_FASTAPI__API_PORT": str(port),
                "AIGW_FASTAPI__METRICS_HOST": host,
            }
        else:
            section = _SECTION[service]
            env |= {
                f"AIGW_{section}__BIND": host,
                f"AIGW_{section}__PORT": str(port),
                f"AIGW_{section}__DRAIN_DELAY_S": "1",
                f"AIGW_{section}__GRACE_PERIOD_S": "10",
            }
        return env

    async def start(self, service: str, index: int) -> Replica:
        host, port = self.planned[service][index]
        (metrics_port,) = free_ports(1)
        env = self.env(service, index, host, port)
        metrics_key = {
            "auth_svc": "AIGW_METRICS__AUTH_SVC_PORT",
            "config_svc": "AIGW_METRICS__CONFIG_SVC_PORT",
            "model_proxy_svc": "AIGW_METRICS__MODEL_PROXY_PORT",
            "router_svc": "AIGW_METRICS__ROUTER_PORT",
            "rest_shim": "AIGW_FASTAPI__METRICS_PORT",
        }[service]
        env[metrics_key] = str(metrics_port)
        with (self.base / f"{service}-{index}.stderr").open("ab") as stderr:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                service,
                env={**_clean_environment(), **env},
                stdout=asyncio.subprocess.DEVNULL,
                stderr=stderr,
            )
        replica = Replica(service, index, host, port, process, metrics_port)
        self.replicas.append(replica)
        await self.wait_ready(replica)
        return replica

    async def wait_ready(self, replica: Replica) -> None:
        async with asyncio.timeout(READY_TIMEOUT_S):
            while not await self.ready(replica):
                if replica.process.returncode is not None:
                    stderr = (self.base / f"{replica.name}.stderr").read_text()[-3000:]
                    raise RuntimeError(f"{replica.name} exited early:\n{stderr}")
                await asyncio.sleep(0.2)

    async def ready(self, replica: Replica) -> bool:
        if replica.service == "rest_shim":
            return await http_ok(f"http://{replica.address}/monitoring/ready")
        return await grpc_serving(replica.address)

    async def metric(self, replica: Replica, name: str, **labels: str) -> float:
        """The sum of a metric's samples matching `labels` on `replica`'s /metrics."""
        async with httpx.AsyncClient(timeout=5) as http:
            text = (await http.get(f"http://{replica.host}:{replica.metrics_port}/metrics")).text
        total = 0.0
        for line in text.splitlines():
            if not line.startswith(name + "{") and not line.startswith(name + " "):
                continue
            if all(f'{key}="{value}"' in line for key, value in labels.items()):
                total += float(line.rsplit(" ", 1)[1])
        return total

    async def stop(self, replica: Replica, sig: int = signal.SIGTERM) -> int:
        if replica.process.returncode is None:
            replica.process.send_signal(sig)
        return await asyncio.wait_for(replica.process.wait(), 30)


def haproxy_config(cluster: Cluster, grpc_port: int, http_port: int) -> str:
    """HAProxy in front of the routers (gRPC, one HTTP/2 stream per call) and the shims.

    A router that stops listening (drained) makes the connection attempt fail: the call is
    retried on the other router; a health check every 500 ms takes it out of rotation.
    """
    routers = "\n".join(
        f"    server router{index} {host}:{port} proto h2 check inter 500ms fall 1 rise 2"
        for index, (host, port) in enumerate(cluster.planned["router_svc"])
    )
    shims = "\n".join(
        f"    server shim{index} {host}:{port} check inter 500ms fall 1 rise 2"
        for index, (host, port) in enumerate(cluster.planned["rest_shim"])
    )
    return f"""global
    maxconn 2000
    log stderr format short local0 warning

defaults
    mode http
    log global
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    timeout check 1s
    retries 3
    option redispatch 1
    retry-on conn-failure empty-response junk-response

frontend grpc_in
    bind 127.0.0.1:{grpc_port} proto h2
    default_backend routers

backend routers
    balance roundrobin
{routers}

frontend http_in
    bind 127.0.0.1:{http_port}
    default_backend shims

backend shims
    balance roundrobin
    option httpchk GET /monitoring/ready
{shims}
"""


async def start_redis(cluster: Cluster) -> None:
    """A Redis of the cluster's own (the test stops it to see the limits' failure policy)."""
    executable = shutil.which("redis-server")
    if executable is None:
        raise RuntimeError("redis-server is not installed (Debian package redis-server)")
    (port,) = free_ports(1)
    cluster.redis_url = f"redis://127.0.0.1:{port}/0"
    with (cluster.base / "redis.stderr").open("ab") as stderr:
        cluster.redis = await asyncio.create_subprocess_exec(
            executable,
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--save",
            "",
            "--appendonly",
            "no",
            stdout=stderr,
            stderr=stderr,
        )
    async with asyncio.timeout(10):
        while True:
            with contextlib.suppress(OSError):
                _, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.close()
                await writer.wait_closed()
                return
            await asyncio.sleep(0.05)


async def start_haproxy(cluster: Cluster) -> None:
    executable = shutil.which("haproxy") or shutil.which("haproxy", path="/usr/sbin")
    if executable is None:
        raise RuntimeError("haproxy is not installed: run scripts/install-test-balancer")
    grpc_port, http_port = free_ports(2)
    cluster.grpc_front = f"127.0.0.1:{grpc_port}"
    cluster.http_front = f"http://127.0.0.1:{http_port}"
    config = cluster.base / "haproxy.cfg"
    config.write_text(haproxy_config(cluster, grpc_port, http_port))
    with (cluster.base / "haproxy.stderr").open("ab") as stderr:
        cluster.haproxy = await asyncio.create_subprocess_exec(
            executable, "-db", "-f", str(config), stdout=asyncio.subprocess.DEVNULL, stderr=stderr
        )


def plan(services: Mapping[str, int]) -> dict[str, list[tuple[str, int]]]:
    """`count` addresses per service on its own loopback addresses, each on a free port."""
    ports = iter(free_ports(sum(services.values())))
    return {
        service: [
            (f"127.0.0.{_SERVICE_NUMBER[service] * 10 + index}", next(ports))
            for index in range(count)
        ]
        for service, count in services.items()
    }


@contextlib.asynccontextmanager
async def running_cluster(
    base: Path, database_url: str, simulator_url: str, *, proxies: int = 3
) -> AsyncIterator[Cluster]:
    """Two of everything (and `proxies` model-proxy addresses, two started), HAProxy in front;
    everything stopped on exit."""
    cluster = Cluster(
        base=base,
        database_url=database_url,
        admin_credential=Fernet.generate_key().decode(),
        credentials_key=Fernet.generate_key().decode(),
        simulator_url=simulator_url,
        planned=plan(
            {
                "auth_svc": 2,
                "config_svc": 2,
                "model_proxy_svc": proxies,
                "router_svc": 2,
                "rest_shim": 2,
            }
        ),
    )
    try:
        await start_redis(cluster)
        await start_haproxy(cluster)
        for service in ("auth_svc", "config_svc", "model_proxy_svc", "router_svc", "rest_shim"):
            await asyncio.gather(*(cluster.start(service, index) for index in range(2)))
        yield cluster
    finally:
        for replica in cluster.replicas:
            if replica.process.returncode is None:
                replica.process.kill()
                await replica.process.wait()
        for process in (cluster.haproxy, cluster.redis):
            if process is not None and process.returncode is None:
                process.kill()
                await process.wait()


def _clean_environment() -> dict[str, str]:
    return {key: value for key, value in os.environ.items() if not key.startswith("AIGW_")}
