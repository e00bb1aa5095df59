"""Real time: webhook receipts, the events they become, and publish/subscribe across processes."""
