"""Load profiles for the server engines: when each request is sent, and how many may be in flight."""
