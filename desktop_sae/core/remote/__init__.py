"""Running a model through nnsight, in this process or on NDIF's servers (docs/REMOTE.md)."""
