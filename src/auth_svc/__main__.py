"""`python -m auth_svc`."""

from auth_svc.server import main

main()
