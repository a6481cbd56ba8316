"""Code every aigw service shares: settings, errors, logging, request context, lifecycle."""
