"""`aigw logging request-logging on|off|status`: expanded logging switched at runtime.

The switch lives in config_svc, so every router follows it within moments, without a restart;
each change is recorded in the audit trail (`aigw config audit`).
"""

from __future__ import annotations

import argparse

from aigw.config.v1 import config_service_pb2
from aigw_cli import admin
from aigw_common.settings import Settings

_TIMEOUT_S = 10.0


async def request_logging(settings: Settings, args: argparse.Namespace) -> None:
    metadata = await admin.admin_metadata(settings)
    async with admin.channel(settings, settings.config_svc.address) as channel:
        stub = admin.config_stub(channel)
        if args.state == "status":
            snapshot = (
                await stub.GetConfig(
                    config_service_pb2.GetConfigRequest(), metadata=metadata, timeout=_TIMEOUT_S
                )
            ).snapshot
            print(
                f"request logging (runtime switch): {'on' if snapshot.request_logging else 'off'}"
            )
            if settings.logging.enable_request_logging:
                print("AIGW_LOGGING__ENABLE_REQUEST_LOGGING=true here: on regardless of the switch")
            return
        response = await stub.SetRequestLogging(
            config_service_pb2.SetRequestLoggingRequest(enabled=args.state == "on"),
            metadata=metadata,
            timeout=_TIMEOUT_S,
        )
    print(
        f"request logging {'on' if response.enabled else 'off'} "
        f"(configuration version {response.version})"
    )


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    logging = commands.add_parser("logging", help="runtime logging switches").add_subparsers(
        required=True
    )
    switch = logging.add_parser(
        "request-logging",
        help="log prompts and answers on the router's access lines (no restart needed)",
    )
    switch.add_argument("state", choices=["on", "off", "status"])
    switch.set_defaults(handler=request_logging)
