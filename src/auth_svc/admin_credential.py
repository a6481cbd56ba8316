"""The admin credential (now shared in aigw_common; kept importable from here)."""

from aigw_common.admin_credential import ADMIN_TOKEN_FILE, load_or_create_admin_credential

__all__ = ["ADMIN_TOKEN_FILE", "load_or_create_admin_credential"]
