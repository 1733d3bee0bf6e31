"""pixret.metric.core: The figures from plain inputs (numpy, pycocotools, OpenCV): no files, no pictures."""
