"""The interleaved sampler: text token by token with a KV cache, images denoised at each BOI.

Modules: options (GenerationOptions, torch-free), loader (checkpoint -> model), text (next-token
choice), backend (prefix KV cache) and naive (reference: full recompute), image (one image:
sampler + guidance + VAE decode), structure (steering to panels/slides/pages), generate (the
loop: prompt -> Document), vocabulary (unknown prompt words), pipeline (document -> file),
benchmark (`tfgen bench`). Nothing is imported here, so `import tfgen.sampling.options` stays light.
"""
