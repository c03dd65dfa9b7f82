"""Names inside Data that runners and readers agree on."""

#: A Run's log Data holds its program's stdout and stderr in this one file.
LOG_FILE = "log"
