"""Scopes for aigw's own components and its administrators (feature scopes live in the catalog).

Who holds which: every aigw service calling another holds `aigw_service` (its service token,
see service_token.py); the `aigw` command holds `aigw_admin` for the length of one command;
`aigw_config_read` is for anything else that only reads the configuration.
"""

from __future__ import annotations

# aigw's own services calling each other: read and watch the configuration (config_svc), ask
# for generations (model_proxy_svc).
SERVICE = "aigw_service"
# Change models and feature settings, read the audit trail.
ADMIN = "aigw_admin"
# Read the configuration and watch it.
CONFIG_READ = "aigw_config_read"
