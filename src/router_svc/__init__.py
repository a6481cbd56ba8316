"""router_svc: authenticates callers, resolves feature -> model, renders prompts, relays answers."""
