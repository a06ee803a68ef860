"""genre: turn labelled music into a served genre classifier.

The package is a plain library: every stage is a function from files to files.
Prefect wiring lives in ``flows/``, the BentoML service in ``services/``.
"""

__version__ = "0.1.0"
