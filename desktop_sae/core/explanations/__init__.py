"""Feature explanations: the protocol of docs/EXPLANATIONS.md (contexts, prompts, strict answers, blind scores),
an OpenAI-compatible chat client, resumable runs and the stores beside the SAE."""
