#!/usr/bin/env python
"""`python tools/demo.py ARGS` is `pixret demo ARGS`: see `pixret demo --help`."""
import sys

from pixret.cli import main

sys.exit(main(["demo", *sys.argv[1:]]))
