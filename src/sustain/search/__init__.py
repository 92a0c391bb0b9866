"""Searches over configurations that find the best ones without running the whole grid."""
