"""The tracking side: a job's W&B run (``wandb_run``) and whether W&B is online (``mode``)."""
