from config_svc.server import main

main()
