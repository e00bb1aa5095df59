"""The inbox: live conversations and messages in one shape, merged over accounts."""
