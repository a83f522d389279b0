"""Generator and discriminator architectures (config group ``arch``)."""
