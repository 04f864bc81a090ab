"""Speech engines in worker processes, their supervisor and the model registry."""
