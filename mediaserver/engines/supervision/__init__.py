"""Worker processes: spawn, health, restart, idle unload, scheduling."""
