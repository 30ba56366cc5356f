"""Transcript search: the query language (`query`) and the index over stored calls (`index`)."""
