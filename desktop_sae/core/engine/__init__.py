"""Running a language model: loading it, its hook points, the token loop with the SAE tap, the model + SAE session,
and the transformers-free engine for Llama, Qwen3 and Gemma 3 (lite/).
"""
