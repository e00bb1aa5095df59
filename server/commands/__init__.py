"""The `switchboard` command's groups for operators: each module registers its subcommands."""
