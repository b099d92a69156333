"""The lite engine: a transformers-free Llama-family model, its KV cache, row kernels and tokenizer."""
