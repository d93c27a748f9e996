"""skpneumo."""
