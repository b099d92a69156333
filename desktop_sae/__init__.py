"""Desktop SAE: chat with a local language model, watch sparse-autoencoder features fire, steer with them."""

__version__ = "0.1.0"
