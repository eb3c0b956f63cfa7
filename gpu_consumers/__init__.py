"""framegate's GPU half: per-lane consumer-group workers, diffusers pipelines, memory guard."""
