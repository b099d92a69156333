"""Sparse autoencoders: the module for each architecture and the file formats they are read from and written to."""
