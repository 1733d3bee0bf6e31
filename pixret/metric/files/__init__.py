"""pixret.metric.files: Result files read strictly, every problem named in the file's own terms (imports core)."""
