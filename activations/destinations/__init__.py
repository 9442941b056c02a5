"""Destination clients: each sends batches of changes and answers per record (see activations/engine.py)."""
