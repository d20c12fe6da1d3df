"""Training a model on a folder of photos (`python -m trainer fit`): data, masks, losses, the
step and the loop, checkpoints, validation, torchrun, export into the registry."""
