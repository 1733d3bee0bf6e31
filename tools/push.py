#!/usr/bin/env python
"""`python tools/push.py ARGS` is `pixret push ARGS`: see `pixret push --help`."""
import sys

from pixret.cli import main

sys.exit(main(["push", *sys.argv[1:]]))
