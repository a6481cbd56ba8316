from aigw_common.event_loop import use_uvloop
from router_svc.server import main

use_uvloop()

main()
