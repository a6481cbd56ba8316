from router_svc.server import main

main()
