"""Great Expectations over the data: the runner, the suites, audio and feature profiles, and offline Data Docs."""
