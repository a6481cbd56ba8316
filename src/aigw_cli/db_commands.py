"""`aigw db migrate|status`: the configuration database's schema (SQLite or PostgreSQL).

config_svc migrates on start by default; with AIGW_DATABASE__MIGRATE_ON_START=false (several
replicas, a Kubernetes Job before the rollout) this command is how the schema moves forward.
"""

from __future__ import annotations

import argparse

from aigw_common.errors import AigwError
from aigw_common.settings import Settings

# config_svc.migrate is imported by the commands that use it: alembic and SQLAlchemy would
# otherwise slow every other `aigw` command down.


def _where(settings: Settings) -> str:
    return "PostgreSQL" if settings.database.is_postgres else str(settings.config_db_path)


def db_migrate(settings: Settings, args: argparse.Namespace) -> None:
    from config_svc.migrate import SchemaTooNew, migrate

    try:
        revision = migrate(settings.database, settings.config_db_path)
    except (SchemaTooNew, AigwError) as error:
        raise SystemExit(f"aigw db migrate: {error}") from None
    print(f"configuration database ({_where(settings)}) at schema revision {revision}")


def db_status(settings: Settings, args: argparse.Namespace) -> None:
    from config_svc.migrate import current_revision, head_revision

    try:
        current = current_revision(settings.database, settings.config_db_path)
    except AigwError as error:
        raise SystemExit(f"aigw db status: {error}") from None
    head = head_revision()
    state = "up to date" if current == head else "needs `aigw db migrate`"
    print(
        f"configuration database ({_where(settings)}): revision {current or 'none'}, "
        f"this release: {head} ({state})"
    )
    if current != head:
        raise SystemExit(1)


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    db = commands.add_parser("db", help="the configuration database's schema").add_subparsers(
        required=True
    )
    db.add_parser("migrate", help="apply pending schema migrations").set_defaults(
        handler=db_migrate
    )
    db.add_parser("status", help="the schema revision, and whether it is current").set_defaults(
        handler=db_status
    )
