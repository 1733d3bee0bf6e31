#!/usr/bin/env python
"""`python tools/evaluate_results.py ARGS` is `pixret evaluate ARGS`: see `pixret evaluate --help`."""
import sys

from pixret.cli import main

sys.exit(main(["evaluate", *sys.argv[1:]]))
