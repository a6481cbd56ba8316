"""`python -m config_svc`."""

from config_svc.server import main

main()
