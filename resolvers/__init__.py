"""Resolution: the functions behind the schema's fields, and the per-request dataloaders."""
