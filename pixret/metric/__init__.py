"""pixret.metric: the evaluation of PROxford / PRParis, in layers (each imports only those below it):

    core   the figures from plain inputs: benchmarks (the registry), predictions and references (checked),
           scoring (mean mIoU, the IoUs: authors_iou, rle, polygons, boxes), ranking (pixel and image mAP),
           figures (the typed result), uncertainty (bootstrap intervals, paired tests)
    files  result files read strictly: results (pixret's predictions and rankings), authors (their matching
           results), safe_pickle, strictjson
    views  what people look at: tables (the paper's tables with a row), plots, analysis, compare_plots

    evaluation  a method's files scored on a built dataset, every protocol (core + files)
    module      the ``pixret_map`` evaluate module (``metric/pixret_map/pixret_map.py`` is its script)

Nothing here imports the rest of pixret.
"""
