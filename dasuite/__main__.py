from dasuite.cli import main

main()
