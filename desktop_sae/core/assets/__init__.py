"""Models and SAEs on this machine and on the hub: what a folder holds, the registry, imports, downloads, the SAE
directory, whether a pair fits, and opening a pair by name.
"""
