"""`python -m model_proxy_svc`."""

from aigw_common.event_loop import use_uvloop
from model_proxy_svc.server import main

use_uvloop()

main()
