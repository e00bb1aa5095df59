"""What an operator sees of the running server: request ids, structured logs, Prometheus metrics."""
