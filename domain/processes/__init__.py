"""Process modules: each declares its stages, transition table and timers."""
