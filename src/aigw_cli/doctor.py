"""`aigw doctor`: checks a running suite in order and says how to fix what fails.

Sections, in order: settings, services, auth, features, models, completions. Each check prints
one PASS/WARN/FAIL/SKIP line, with a one-line fix under a failure; `--json` prints the same as
one JSON document. The exit status is 1 if any check failed. The ad-hoc mode
(`--model-endpoint --model-identifier --model-family`) checks a model before it is configured.
Nothing printed ever holds a secret: values of secret settings are masked, tokens are never shown.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from aigw_cli import doctor_checks, doctor_models, model_vocabulary
from aigw_cli.doctor_checks import Result
from aigw_common.settings import Settings

_MARKS = {"pass": "PASS", "warn": "WARN", "fail": "FAIL", "skip": "SKIP"}


async def run(settings: Settings, args: argparse.Namespace) -> None:
    """The `aigw doctor` command."""
    environ = dict(os.environ)
    results = doctor_checks.settings_checks(settings, environ)
    if args.model_endpoint:
        adhoc = doctor_models.AdHocModel(
            endpoint=args.model_endpoint,
            identifier=args.model_identifier,
            family=args.model_family,
            platform=args.platform,
            api_key_env=args.api_key_env,
        )
        results += await doctor_models.adhoc_model_checks(settings, adhoc, args.timeout_s)
    else:
        results += await doctor_models.suite_checks(settings, args.timeout_s)
    _finish(results, as_json=args.json)


def report_invalid_settings(error: ValueError, args: argparse.Namespace) -> None:
    """Settings that do not even load (a contradiction the validators refuse): report it as the
    failed first check instead of a traceback."""
    _finish([doctor_checks.invalid_settings(error, dict(os.environ))], as_json=args.json)


def _finish(results: list[Result], *, as_json: bool) -> None:
    failed = any(result.status == "fail" for result in results)
    if as_json:
        document = {"ok": not failed, "checks": [result.as_dict() for result in results]}
        print(json.dumps(document, indent=2))
    else:
        _print_text(results)
    sys.stdout.flush()
    if failed:
        raise SystemExit(1)


def _print_text(results: list[Result]) -> None:
    section = ""
    for result in results:
        if result.section != section:
            section = result.section
            print(f"\n{section}" if section != results[0].section else section)
        line = f"  {_MARKS[result.status]}  {result.name}"
        if result.detail:
            line += f": {result.detail}"
        print(line)
        if result.fix and result.status in ("fail", "warn"):
            print(f"        fix: {result.fix}")
    counts = {status: sum(r.status == status for r in results) for status in _MARKS}
    print(
        f"\n{counts['pass']} passed, {counts['warn']} warnings, {counts['fail']} failed, "
        f"{counts['skip']} skipped"
    )


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    doctor = commands.add_parser(
        "doctor",
        help="check settings, services, auth, features, models and a completion per feature",
    )
    doctor.add_argument("--json", action="store_true", help="one JSON document for machines")
    doctor.add_argument(
        "--timeout-s", type=float, default=10.0, help="the longest any one check may take"
    )
    adhoc = doctor.add_argument_group(
        "ad-hoc model check", "check a model before it is configured (all three together)"
    )
    adhoc.add_argument("--model-endpoint", help="e.g. http://vllm:8000/v1")
    adhoc.add_argument("--model-identifier", help="served model name / model id")
    adhoc.add_argument("--model-family", help="codestral, mistral, claude_3, gpt, ...")
    adhoc.add_argument(
        "--platform", default="openai_compatible", choices=sorted(model_vocabulary.PLATFORMS)
    )
    adhoc.add_argument("--api-key-env", help="read the model's API key from this variable")
    doctor.set_defaults(handler=_handler)


async def _handler(settings: Settings, args: argparse.Namespace) -> None:
    adhoc = (args.model_endpoint, args.model_identifier, args.model_family)
    if any(adhoc) and not all(adhoc):
        raise SystemExit(
            "aigw: the ad-hoc check needs --model-endpoint, --model-identifier and "
            "--model-family together"
        )
    await run(settings, args)


def is_doctor(args: argparse.Namespace) -> bool:
    """Whether the parsed command is `aigw doctor` (main reports bad settings through it)."""
    return getattr(args, "handler", None) is _handler
