"""Scopes for administering aigw itself (feature scopes live in the catalog)."""

from __future__ import annotations

# Change models and feature settings, read the audit trail.
ADMIN = "aigw_admin"
# Read the configuration and watch it (what every router needs).
CONFIG_READ = "aigw_config_read"
