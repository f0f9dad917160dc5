"""Wiring of the backbone: configuration, the event-sourced application, the
service layer that turns change requests into domain commands, and the CLI."""
