from aigw_cli.main import main

main()
