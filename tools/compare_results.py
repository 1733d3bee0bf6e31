#!/usr/bin/env python
"""`python tools/compare_results.py ARGS` is `pixret compare ARGS`: see `pixret compare --help`."""
import sys

from pixret.cli import main

sys.exit(main(["compare", *sys.argv[1:]]))
