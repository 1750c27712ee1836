"""``python -m pacs``: the ``pacs`` command line (how ``pacs serve`` starts its HTTP worker processes)."""

from pacs.cli import main

main()
