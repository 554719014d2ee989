"""Ingestion: parsers and clients for the sources a Daily Papers site reads."""
