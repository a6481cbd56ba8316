"""config_svc: the source of truth for models and feature settings, pushed to watchers."""
