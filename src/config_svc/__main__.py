from aigw_common.event_loop import use_uvloop
from config_svc.server import main

use_uvloop()

main()
