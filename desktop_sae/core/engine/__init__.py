"""Running a language model: loading it, its hook points, the token loop with the SAE tap, the model + SAE session,
and the transformers-free Llama engine (lite/).
"""
