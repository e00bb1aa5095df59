"""The GraphQL schema: Strawberry types, the root operations and the schema object."""
