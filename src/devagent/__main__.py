"""`python -m devagent ...` runs the `phydev` command."""

from devagent.cli import main

main(prog_name="phydev")
