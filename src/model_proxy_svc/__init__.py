"""model_proxy_svc: the only aigw service that talks to model servers."""
