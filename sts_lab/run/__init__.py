"""One training job, Hydra-free: data, model, losses, evaluation, precision, devices, training arguments,
validation, batching and ``train()``."""
