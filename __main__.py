"""`python -m gan` — the same as the `gan` command (and what torchrun launches)."""

from gan.cli import main

main()
