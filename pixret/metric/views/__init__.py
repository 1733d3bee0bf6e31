"""pixret.metric.views: Tables and plots of evaluations (imports core)."""

# Every PNG pixret writes (plots, report panels) at zlib level 1: 3-4x faster to write than the default 6 (writing
# was half of the demo's report), a few percent larger
PNG_LEVEL = 1
