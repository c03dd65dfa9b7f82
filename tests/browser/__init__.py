"""Browser tests: headless Chromium against the Knit pages of a real airflow standalone."""
