#!/usr/bin/env python
"""`python tools/show.py ARGS` is `pixret show ARGS`: see `pixret show --help`."""
import sys

from pixret.cli import main

sys.exit(main(["show", *sys.argv[1:]]))
