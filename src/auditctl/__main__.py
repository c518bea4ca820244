from auditctl.cli.app import main

main()
