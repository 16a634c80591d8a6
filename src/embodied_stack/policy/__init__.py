"""Multi-exit vision-language-action policy with dynamic early exit (after DeeR-VLA).

Modules: ``configuration_vla`` (VLAConfig), ``modeling_vla`` (the network, exportable per
part), ``early_exit`` (the exit rule and batch-1 controller), ``flops`` (analytic compute),
``calibration`` (thresholds for a compute budget), ``checkpoint`` (safetensors files),
``demos`` and ``train`` (imitation learning from the simulator's oracle), ``agent`` (the
navigation agent and the ``policy:CKPT`` agent spec); for the language-vision task ``text_tokens``
(MiniLM token embeddings of the instruction), ``odometry`` (the goal-free state token) and
``vln_demos`` (privileged-expert demonstrations and DAgger); ``hf_multi_exit`` wraps a user's own
Hugging Face decoder as a multi-exit policy. Import them directly; this package
imports nothing heavy.
"""
