"""Judges of generated documentation: verifiers now; LLM rubric, pairwise, learned judge and jury to come."""
