"""What people open: the run-health report and its HTML page, and the data dictionary."""
