"""What people read: the terminal summary of a run and its figures."""
