"""The ``knit`` command: Knitfab's verbs and flags over the service layer."""
