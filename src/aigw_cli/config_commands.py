"""`aigw config apply -f FILE` and `aigw config export`: the configuration as a file."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

import grpc

from aigw.config.v1 import config_service_pb2
from aigw_cli import admin, config_file
from aigw_common.settings import Settings

_TIMEOUT_S = 30.0
_MARKS = {
    config_service_pb2.CHANGE_ACTION_ADD: "+",
    config_service_pb2.CHANGE_ACTION_UPDATE: "~",
    config_service_pb2.CHANGE_ACTION_REMOVE: "-",
}


async def apply(settings: Settings, args: argparse.Namespace) -> None:
    """Show what applying the file changes, ask (unless --yes), then apply exactly that."""
    try:
        source = sys.stdin.read if args.file == "-" else Path(args.file).read_text
        text = await asyncio.to_thread(source)
        request = config_file.load(text)
    except OSError as error:
        raise SystemExit(f"aigw: cannot read {args.file}: {error.strerror}") from None
    except config_file.ConfigFileError as error:
        raise SystemExit(f"aigw: {args.file}: {error}") from None
    metadata = await admin.admin_metadata(settings)
    async with admin.channel(settings, settings.config_svc.address) as channel:
        stub = admin.config_stub(channel)
        request.validate_only = True
        preview = await stub.ApplyConfig(request, metadata=metadata, timeout=_TIMEOUT_S)
        if not preview.changes:
            print(f"nothing to change (configuration version {preview.version})")
            return
        print(f"changes to configuration version {preview.version}:")
        for change in preview.changes:
            print(f"  {render(change)}")
        if args.dry_run:
            return
        if not args.yes:
            _confirm(len(preview.changes))
        request.validate_only = False
        # Exactly the changes shown: if anything changed since, refuse rather than overwrite.
        request.expected_version = preview.version
        try:
            done = await stub.ApplyConfig(request, metadata=metadata, timeout=_TIMEOUT_S)
        except grpc.aio.AioRpcError as error:
            if error.code() == grpc.StatusCode.ABORTED:
                raise SystemExit(
                    "aigw: the configuration changed while you were looking at the changes; "
                    "nothing was applied. Run the command again."
                ) from None
            raise
    print(f"applied {len(done.changes)} change(s) (configuration version {done.version})")


async def export(settings: Settings, args: argparse.Namespace) -> None:
    metadata = await admin.admin_metadata(settings)
    async with admin.channel(settings, settings.config_svc.address) as channel:
        response = await admin.config_stub(channel).GetConfig(
            config_service_pb2.GetConfigRequest(), metadata=metadata, timeout=_TIMEOUT_S
        )
    text = config_file.dump(response.snapshot)
    if args.output in (None, "-"):
        sys.stdout.write(text)
    else:
        await asyncio.to_thread(Path(args.output).write_text, text)
        print(f"configuration version {response.snapshot.version} written to {args.output}")


async def audit(settings: Settings, args: argparse.Namespace) -> None:
    """The newest changes: version, time, who, what."""
    metadata = await admin.admin_metadata(settings)
    async with admin.channel(settings, settings.config_svc.address) as channel:
        response = await admin.config_stub(channel).ListAuditEvents(
            config_service_pb2.ListAuditEventsRequest(page_size=args.limit),
            metadata=metadata,
            timeout=_TIMEOUT_S,
        )
    for event in response.events:
        when = event.time.ToDatetime().strftime("%Y-%m-%d %H:%M:%S")
        print(f"{event.version}  {when} UTC  {event.subject}  {event.method}")
        for change in event.changes:
            print(f"    {change}")


def render(change: config_service_pb2.ConfigChange) -> str:
    action = config_service_pb2.ChangeAction.Name(change.action).removeprefix("CHANGE_ACTION_")
    line = f"{_MARKS.get(change.action, '?')} {action.lower()} {change.kind} {change.name}"
    if change.details:
        line += "\n      " + "\n      ".join(change.details)
    return line


def _confirm(count: int) -> None:
    if not sys.stdin.isatty():
        raise SystemExit("aigw: not applied: no terminal to confirm on; pass --yes to apply")
    answer = input(f"Apply these {count} change(s)? [y/N] ").strip().lower()
    if answer not in ("y", "yes"):
        raise SystemExit("aigw: not applied")


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    config = commands.add_parser("config", help="the configuration as a file").add_subparsers(
        required=True
    )
    apply_ = config.add_parser(
        "apply", help="make the stored configuration equal a file (shows the changes first)"
    )
    apply_.add_argument("-f", "--file", required=True, help="aigw.yaml, or - for stdin")
    apply_.add_argument("--yes", action="store_true", help="apply without asking")
    apply_.add_argument("--dry-run", action="store_true", help="only show the changes")
    apply_.set_defaults(handler=apply)
    export_ = config.add_parser("export", help="write the stored configuration as a file")
    export_.add_argument("-o", "--output", help="file to write (default: stdout)")
    export_.set_defaults(handler=export)
    audit_ = config.add_parser("audit", help="who changed what and when, newest first")
    audit_.add_argument("--limit", type=int, default=20)
    audit_.set_defaults(handler=audit)
