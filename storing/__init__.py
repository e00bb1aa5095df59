"""Storing: copying conversations into the CRM database, and keeping the copies in sync."""
