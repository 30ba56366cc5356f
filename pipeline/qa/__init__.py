"""The human QA loop: evaluation forms, calibration, review sampling, disputes, alerts."""
