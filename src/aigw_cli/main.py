"""Entry point of the `aigw` command."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Callable, Coroutine, MutableMapping
from pathlib import Path
from typing import Any

import grpc

from aigw_cli import (
    admin,
    config_commands,
    db_commands,
    demo,
    doctor,
    logging_commands,
    model_commands,
    model_vocabulary,
)
from aigw_cli.supervisor import (
    Child,
    Supervisor,
    grpc_serving,
    http_ok,
    run_until_signalled,
    suite_children,
)
from aigw_common.errors import AigwError
from aigw_common.private_files import ensure_private_dir
from aigw_common.settings import Settings

_READY_TIMEOUT_S = 60.0


# Where `make run` keeps the suite's state (the Makefile sets AIGW_DATA_DIR to it).
LOCAL_DATA_DIR = ".aigw"


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    _use_local_data_dir(os.environ)
    try:
        settings = Settings()
    except ValueError as error:
        if doctor.is_doctor(args):
            doctor.report_invalid_settings(error, args)
        raise SystemExit(f"aigw: invalid settings: {error}") from None
    handler: Callable[[Settings, argparse.Namespace], Coroutine[Any, Any, None] | None]
    handler = args.handler
    try:
        outcome = handler(settings, args)
        if outcome is not None:
            asyncio.run(outcome)
    except grpc.aio.AioRpcError as error:
        admin.fail(error)
    except AigwError as error:
        raise SystemExit(f"aigw: {error.message}") from None
    except KeyboardInterrupt:
        pass


def _use_local_data_dir(environ: MutableMapping[str, str]) -> None:
    """Without AIGW_DATA_DIR, a `./.aigw` made by `make run` is the data directory: a command
    typed in a second terminal beside the running suite reaches it (and the services `aigw up`
    starts inherit it)."""
    if any(name.upper() == "AIGW_DATA_DIR" for name in environ):
        return
    local = Path.cwd() / LOCAL_DATA_DIR
    if local.is_dir():
        environ["AIGW_DATA_DIR"] = str(local)


async def _up(settings: Settings, args: argparse.Namespace) -> None:
    data_dir = settings.data_dir.resolve()
    # Everything the suite writes (keys, credentials, the configuration database, logs) is
    # owner-only; the services inherit the mask.
    os.umask(0o077)
    ensure_private_dir(data_dir)
    children = suite_children(settings)
    simulator_url = f"http://127.0.0.1:{args.simulator_port}"
    if args.demo:
        children.append(
            Child(
                "simulator",
                [sys.executable, "-m", "aigw_cli", "simulator", "--port", str(args.simulator_port)],
                f"{simulator_url}/v1",
                lambda: http_ok(f"{simulator_url}/health"),
            )
        )
    supervisor = Supervisor(children, data_dir / "logs", data_dir / "run" / "suite.json")
    await supervisor.start()
    try:
        if args.demo:
            # The router reports SERVING only once it holds a configuration, which the demo
            # writes; so wait for config_svc first, configure, then wait for everything.
            await supervisor.wait_ready(_READY_TIMEOUT_S)
            await demo.configure(settings, f"{simulator_url}/v1")
        not_ready = await supervisor.wait_ready(_READY_TIMEOUT_S)
    except BaseException:
        await supervisor.stop()
        raise
    if not_ready:
        print(
            f"aigw: not ready after {_READY_TIMEOUT_S:g} s: {', '.join(not_ready)}; "
            f"see {data_dir / 'logs'}",
            file=sys.stderr,
        )
        await supervisor.stop()
        raise SystemExit(1)
    print(f"aigw is up. Data: {data_dir}  Logs: {data_dir / 'logs'}")
    admin.print_table([[child.name, child.address] for child in supervisor.children])
    if args.demo:
        token = await admin.issue_token(settings, "demo-user", demo.DEMO_SCOPES, 3600)
        print("\nA streamed code completion through the whole suite (token valid for 1 hour):\n")
        print(demo.curl_command(settings, token.token))
    print("\nPress Ctrl-C to stop.", flush=True)
    await run_until_signalled(supervisor)


def _simulator(settings: Settings, args: argparse.Namespace) -> None:
    # On the main thread: uvicorn installs its Ctrl-C/SIGTERM handlers only there.
    from aigw_simulator import SimulatorConfig, run

    config = SimulatorConfig(
        tokens=args.tokens,
        tokens_per_second=args.tokens_per_second,
        first_token_delay_s=args.first_token_delay_ms / 1000,
        model=args.model,
        max_model_len=args.max_model_len,
        max_stop_strings=args.max_stop_strings,
        chat_only=args.chat_only,
        answers_file=args.answers,
    )
    print(
        f"aigw simulator (a development tool, not a model) on http://{args.host}:{args.port} "
        f"(OpenAI-compatible under /v1, Azure under /openai, Bedrock under /model, Anthropic "
        f"at /v1/messages; model {args.model!r})",
        file=sys.stderr,
    )
    run(config, args.host, args.port)


async def _health(settings: Settings, args: argparse.Namespace) -> None:
    serving = await grpc_serving(args.address, settings.tls)
    print("SERVING" if serving else "NOT_SERVING")
    if not serving:
        raise SystemExit(1)


async def _token_issue(settings: Settings, args: argparse.Namespace) -> None:
    scopes = [scope for scope in args.scopes.split(",") if scope]
    response = await admin.issue_token(settings, args.subject, scopes, args.ttl_s)
    print(response.token)


async def _keys_rotate(settings: Settings, args: argparse.Namespace) -> None:
    response = await admin.rotate_keys(settings)
    retiring = response.retiring_key
    print(f"signing with {response.active_key.kid} ({response.active_key.algorithm}) from now on")
    print(
        f"{retiring.kid} keeps verifying the tokens it signed until "
        f"{admin.timestamp(retiring.retire_time)}, then it is retired"
    )
    if response.HasField("next_key"):
        print(f"next signer, published from now on: {response.next_key.kid}")


async def _keys_list(settings: Settings, args: argparse.Namespace) -> None:
    rows = [["KID", "ALGORITHM", "STATE", "CREATED", "SIGNS SINCE", "RETIRES"]]
    for key in await admin.key_set(settings):
        rows.append(
            [
                key.kid,
                key.algorithm,
                admin.KEY_STATE_NAMES.get(key.state, "?"),
                admin.timestamp(key.create_time),
                admin.timestamp(key.activate_time) if key.HasField("activate_time") else "-",
                admin.timestamp(key.retire_time) if key.HasField("retire_time") else "-",
            ]
        )
    admin.print_table(rows)


async def _models_add(settings: Settings, args: argparse.Namespace) -> None:
    model = admin.model_from_args(args)
    api_key = admin.api_key_from_args(args)
    if args.completion_api == "auto" and args.platform == "openai_compatible":
        await model_commands.find_completion_api(settings, model.target, api_key)
    response = await admin.create_model(settings, model, api_key)
    print(f"model {response.model.name} added (configuration version {response.version})")


async def _models_list(settings: Settings, args: argparse.Namespace) -> None:
    rows = [["NAME", "FAMILY", "PLATFORM", "ENDPOINT", "IDENTIFIER", "API KEY"]]
    for model in await admin.list_models(settings):
        target = model.target
        rows.append(
            [
                model.name,
                model.family,
                model_vocabulary.PLATFORM_NAMES.get(target.platform, "?"),
                target.endpoint,
                target.identifier,
                "set" if target.sealed_api_key else "-",
            ]
        )
    admin.print_table(rows)


async def _models_remove(settings: Settings, args: argparse.Namespace) -> None:
    version = await admin.delete_model(settings, args.name)
    print(f"model {args.name} removed (configuration version {version})")


async def _features_set(settings: Settings, args: argparse.Namespace) -> None:
    if bool(args.models) == args.disable:
        raise SystemExit("aigw: give one or more models, or --disable")
    version = await admin.set_feature(settings, args.feature, args.models, disabled=args.disable)
    print(f"feature {args.feature} updated (configuration version {version})")


async def _features_list(settings: Settings, args: argparse.Namespace) -> None:
    rows = [["FEATURE", "MODELS"]]
    for setting in await admin.list_features(settings):
        rows.append(
            [setting.feature, "disabled" if setting.disabled else ", ".join(setting.models)]
        )
    admin.print_table(rows)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="aigw",
        description="Self-hosted AI gateway. Settings come from AIGW_* environment variables.",
    )
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    up = commands.add_parser("up", help="run every service on this machine, supervised")
    up.add_argument("--demo", action="store_true", help="also run the simulator as a demo model")
    up.add_argument("--simulator-port", type=int, default=8090)
    up.set_defaults(handler=_up)

    sim = commands.add_parser(
        "simulator", help="run the model simulator (vLLM, Azure OpenAI, Bedrock, Anthropic)"
    )
    sim.add_argument("--host", default="127.0.0.1")
    sim.add_argument("--port", type=int, default=8090)
    sim.add_argument("--tokens", type=int, default=32, help="tokens per answer")
    sim.add_argument("--tokens-per-second", type=float, default=0, help="0: as fast as possible")
    sim.add_argument("--first-token-delay-ms", type=float, default=0)
    sim.add_argument(
        "--answers",
        type=Path,
        default=None,
        help="JSON file of recorded code-completion answers to stream for the prompts they answer",
    )
    sim.add_argument(
        "--model",
        default="aigw-simulator",
        help="the served model name, Azure deployment and Bedrock model id it answers to",
    )
    sim.add_argument(
        "--max-model-len", type=int, default=32768, help="context it serves (vLLM's flag)"
    )
    sim.add_argument(
        "--max-stop-strings", type=int, default=4, help="as vLLM's VLLM_MAX_STOP_STRINGS"
    )
    sim.add_argument("--chat-only", action="store_true", help="serve no /v1/completions")
    sim.set_defaults(handler=_simulator)

    health = commands.add_parser("health", help="exit 0 if a gRPC service reports SERVING")
    health.add_argument("address", help="host:port")
    health.set_defaults(handler=_health)

    token = commands.add_parser("token", help="development tokens").add_subparsers(required=True)
    issue = token.add_parser("issue", help="mint a token signed by auth_svc")
    issue.add_argument("--scopes", required=True, help="comma-separated, e.g. complete_code")
    issue.add_argument("--subject", default="developer")
    issue.add_argument("--ttl-s", type=int, default=None)
    issue.set_defaults(handler=_token_issue)

    keys = commands.add_parser("keys", help="token signing keys").add_subparsers(required=True)
    keys.add_parser(
        "rotate", help="sign with the next key; the old one verifies until its tokens expire"
    ).set_defaults(handler=_keys_rotate)
    keys.add_parser("list", help="list the published keys").set_defaults(handler=_keys_list)

    models = commands.add_parser("models", help="model definitions").add_subparsers(required=True)
    add = models.add_parser("add", help="define a model")
    add.add_argument("name")
    add.add_argument("--family", required=True, help="codestral, mistral, claude_3, gpt, ...")
    add.add_argument("--platform", required=True, choices=sorted(model_vocabulary.PLATFORMS))
    add.add_argument(
        "--endpoint",
        default="",
        help="e.g. http://vllm:8000/v1, https://NAME.openai.azure.com, https://api.anthropic.com;"
        " optional for bedrock (a private VPC endpoint)",
    )
    add.add_argument("--identifier", required=True, help="served model name / model id")
    add.add_argument("--api-key-env", help="read the API key from this environment variable")
    add.add_argument("--api-key-file", help="read the API key from this file")
    add.add_argument("--timeout-s", type=int, default=0)
    add.add_argument("--max-output-tokens", type=int, default=0)
    add.add_argument("--max-concurrent-requests", type=int, default=0)
    add.add_argument("--connect-timeout-s", type=float, default=0, help="0: the proxy's default")
    add.add_argument("--first-token-timeout-s", type=float, default=0)
    add.add_argument("--idle-timeout-s", type=float, default=0, help="longest gap in a stream")
    add.add_argument("--max-retries", type=int, default=None, help="before the first token")
    add.add_argument(
        "--max-stop-sequences",
        type=int,
        default=0,
        help="stops the server accepts (0: 4 for OpenAI-style servers, vLLM's default)",
    )
    add.add_argument(
        "--context-tokens",
        type=int,
        default=0,
        help="context the server serves (0: what it reports, e.g. vLLM's max_model_len)",
    )
    add.add_argument(
        "--completion-api",
        choices=["auto", *sorted(model_vocabulary.COMPLETION_APIS)],
        default="auto",
        help="which API serves prompts (auto: tried now, on openai_compatible servers)",
    )
    add.add_argument("--azure-api-version", help="e.g. 2024-10-21 (deployments API)")
    add.add_argument("--azure-api", choices=sorted(model_vocabulary.AZURE_APIS), help="URL layout")
    add.add_argument(
        "--azure-auth", choices=sorted(model_vocabulary.AZURE_AUTHS), help="how the key is sent"
    )
    add.add_argument("--region", help="bedrock: AWS region (default: the AWS SDK's chain)")
    add.set_defaults(handler=_models_add)
    models.add_parser("list", help="list models").set_defaults(handler=_models_list)
    remove = models.add_parser("remove", help="remove a model no feature uses")
    remove.add_argument("name")
    remove.set_defaults(handler=_models_remove)
    model_commands.add_parsers(models)

    features = commands.add_parser("features", help="feature settings").add_subparsers(
        required=True
    )
    set_ = features.add_parser("set", help="assign models (first serves, rest are fallbacks)")
    set_.add_argument("feature")
    set_.add_argument("models", nargs="*")
    set_.add_argument("--disable", action="store_true", help="turn the feature off")
    set_.set_defaults(handler=_features_set)
    features.add_parser("list", help="list feature settings").set_defaults(handler=_features_list)
    config_commands.add_parser(commands)
    doctor.add_parser(commands)
    logging_commands.add_parser(commands)
    db_commands.add_parser(commands)
    return parser
