"""Semantic-forest memory (after Embodied-RAG): observed objects as leaves, spatial/semantic
clusters as parents, retrieval by walking the forest."""
