"""Following logs live: the watch loop, a syslog receiver, and alert sinks."""
