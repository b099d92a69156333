"""What the user is doing, as typed sub-models with change signals, the runs that do long work, and the job queue
to the inference thread (no Qt; docs/ARCHITECTURE.md)."""
