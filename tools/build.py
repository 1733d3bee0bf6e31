#!/usr/bin/env python
"""`python tools/build.py ARGS` is `pixret build ARGS`: see `pixret build --help`."""
import sys

from pixret.cli import main

sys.exit(main(["build", *sys.argv[1:]]))
