"""Text embedders shared by the memory, the policy and the deploy runtime.

``load_embedder(spec)`` turns a spec (``default``, ``hash:DIM``, ``st:PATH``, ``onnx:DIR``, ...)
into a :class:`CachedEmbedder`; :mod:`.embed_worker` runs one in a child process.
"""
