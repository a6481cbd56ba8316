from rest_shim.app import main

main()
