from dasuite.cli import entry

entry()
