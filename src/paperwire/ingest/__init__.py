"""Ingestion: the sources a Daily Papers site reads — each a module with its parser, client,
``paperwire ingest`` command and registration (:mod:`.sources`) — and the batch writing they
share (:mod:`.pipeline`)."""
