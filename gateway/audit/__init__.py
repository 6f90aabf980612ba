"""The offline audit around monitors.audit: answers, cache, report and plots."""
