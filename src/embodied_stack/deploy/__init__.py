"""Edge deployment: the policy exported as one ONNX graph per stage (vision, each trunk segment
between exits, the action head) with a manifest, the text embedder with its tokenizer, int8
quantisation, and an onnxruntime runtime that keeps the torch policy's early-exit logic.

Modules: ``manifest`` and ``policy_spec`` (the export directory's format), ``onnx_export``,
``policy_export`` and ``embedder`` (export and parity checks), ``quantize`` (int8, TensorRT
calibration caches), ``sessions`` and ``runtime`` (onnxruntime, the ``onnx:DIR`` agent),
``sim_inputs`` (recorded simulator steps), ``check`` and ``bench`` (``export check``,
``bench onnx``). Import them directly; this package imports nothing heavy.
"""
