#!/usr/bin/env python
"""`python tools/export_coco.py ARGS` is `pixret export-coco ARGS`: see `pixret export-coco --help`."""
import sys

from pixret.cli import main

sys.exit(main(["export-coco", *sys.argv[1:]]))
