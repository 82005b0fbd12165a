"""The training loop's parts: distributed setup, seeding, checkpoints, EMA, optimisers/schedulers, logging."""
