"""pixret.metric.views: Tables and plots of evaluations (imports core)."""
