"""Access control: file permissions, sealed fields, self-audit, and opening the store as a role allows."""
