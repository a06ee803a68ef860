"""Audio in: decoding, the content-addressed blob store, the SQLite catalog, ingestion and the synthetic demo set."""
