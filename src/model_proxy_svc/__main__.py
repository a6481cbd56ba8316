"""`python -m model_proxy_svc`."""

from model_proxy_svc.server import main

main()
