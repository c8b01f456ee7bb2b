"""The behaviours PyTorch's own nn tests check, run on torch.nn and on purenn."""
