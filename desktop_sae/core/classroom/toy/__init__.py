"""Small, fast, Qt-free toy models for lessons: superposition (Elhage et al. 2022), an SAE on its hidden
space, and the "rainbow" autoencoder-vs-sparse-autoencoder analogy. Each trains in seconds on one CPU thread."""
