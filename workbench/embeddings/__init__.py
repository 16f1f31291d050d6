"""Stage 2: vectors for products and categories.

The offline encoder, the cached product embeddings, the 2-D projection for the map, category
neighbours by meaning, and semantic search.
"""
