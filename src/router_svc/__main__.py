"""`python -m router_svc`."""

from router_svc.server import main

main()
