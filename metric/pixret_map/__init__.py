"""The pixret_map evaluate module and the self-contained evaluation it is made of.

This folder is the metric's Hub Space as it is published, and inside the pixret
package it is ``pixret.metric``. Its files import each other relatively, so that
``evaluate.load`` copies them along; ``app.py`` (the Space) imports them as
top-level modules from this folder.
"""
