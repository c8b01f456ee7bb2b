"""Generated from chapters/05_checkpointing.ipynb — edit the chapter, then run `make export`."""
__all__ = ['consume_prefix_in_state_dict_if_present']


# %% chapters/05_checkpointing.ipynb, cell 54
def consume_prefix_in_state_dict_if_present(state_dict: dict, prefix: str) -> None:
    """Strip `prefix` from every key (and _metadata entry) that has it, in place."""
    for key in list(state_dict):
        if key.startswith(prefix):
            state_dict[key[len(prefix):]] = state_dict.pop(key)
    metadata = getattr(state_dict, "_metadata", None)
    if metadata is not None:
        for key in list(metadata):
            if key and (key == prefix.replace(".", "") or key.startswith(prefix)):
                metadata[key[len(prefix):]] = metadata.pop(key)
