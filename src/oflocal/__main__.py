"""``python -m oflocal``: the same as the ``oflocal`` command."""

from oflocal.cli import main

main()
