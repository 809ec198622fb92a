from dllint.cli import run

run()
