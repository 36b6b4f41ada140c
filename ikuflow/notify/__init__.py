"""E-mail: rendering from templates and sending from the outbox."""
