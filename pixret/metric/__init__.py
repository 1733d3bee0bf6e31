"""pixret.metric: the pixret_map evaluate module and the self-contained evaluation it is made of.

This folder is also the metric's Hub Space as published (``pixret push metric``): its files
import each other relatively only. ``evaluate.load`` copies the script ``pixret_map.py`` and
the sibling files it imports (one level deep, which is why the script names every one);
the Space's ``app.py`` registers the folder as a package of its own. Nothing here imports
the rest of pixret.
"""
