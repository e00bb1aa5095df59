"""Access: the tokens Switchboard trusts, and the workspaces and users they provision."""
