"""Running the simulator: in the foreground (`run`) or on a background thread for tests."""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from types import TracebackType

import uvicorn

from aigw_simulator.app import build_app, simulator_of
from aigw_simulator.config import SimulatorConfig
from aigw_simulator.responses import ConnectionCut
from aigw_simulator.state import Simulator

_START_TIMEOUT_S = 10.0


class _HideDeliberateCuts(logging.Filter):
    """uvicorn logs an app exception as an error; a connection cut on request is not one."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], ConnectionCut))


def _uvicorn_config(config: SimulatorConfig, **kwargs: object) -> uvicorn.Config:
    uvicorn_errors = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _HideDeliberateCuts) for f in uvicorn_errors.filters):
        uvicorn_errors.addFilter(_HideDeliberateCuts())
    return uvicorn.Config(
        build_app(config),
        log_level="warning",
        access_log=False,
        lifespan="off",
        ws="none",
        timeout_graceful_shutdown=1,
        **kwargs,  # type: ignore[arg-type]
    )


def run(config: SimulatorConfig, host: str, port: int) -> None:
    """Serve the simulator until SIGINT/SIGTERM."""
    uvicorn.Server(_uvicorn_config(config, host=host, port=port)).run()


class BackgroundSimulator:
    """The simulator on a free port of `host`, served from its own thread and event loop.

    Use as a context manager (`with BackgroundSimulator(config) as sim: sim.endpoint`); it
    works from sync and async tests alike, and `sim.state.config` may be replaced between
    requests.
    """

    def __init__(self, config: SimulatorConfig | None = None, host: str = "127.0.0.1") -> None:
        self._socket = socket.create_server((host, 0))
        self.port: int = self._socket.getsockname()[1]
        self.base_url = f"http://{host}:{self.port}"
        self._server = _QuietServer(_uvicorn_config(config or SimulatorConfig()))
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True
        )

    @property
    def endpoint(self) -> str:
        """The OpenAI-compatible base URL (with `/v1`), as a model's endpoint. Azure, Bedrock
        and Anthropic models use `base_url` as theirs."""
        return f"{self.base_url}/v1"

    @property
    def state(self) -> Simulator:
        """The live config and request records."""
        return simulator_of(self._server.config.app)  # type: ignore[arg-type]

    def start(self) -> None:
        self._thread.start()
        deadline = time.monotonic() + _START_TIMEOUT_S
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the model simulator did not start")
            time.sleep(0.005)

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=_START_TIMEOUT_S)
        self._socket.close()

    def __enter__(self) -> BackgroundSimulator:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


class _QuietServer(uvicorn.Server):
    # A background server must leave the process's signal handlers alone.
    @contextlib.contextmanager
    def capture_signals(self):  # type: ignore[no-untyped-def]
        yield
