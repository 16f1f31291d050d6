"""Stage 6: the human-in-the-loop cycle.

Published thresholds, shelving new products, the daily review queue, reviews and label
provenance, retraining on catalog and human labels, live accuracy, and the simulated review of
notebook 05.
"""
