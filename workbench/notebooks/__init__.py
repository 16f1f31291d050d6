"""Executing the notebooks (``runner``) and checking that their printed figures agree with the
command line (``checks``)."""
