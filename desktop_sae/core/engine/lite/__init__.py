"""The lite engine: a transformers-free Llama, Qwen3 and Gemma 3 text model, its KV cache, row kernels, tokenizer."""
