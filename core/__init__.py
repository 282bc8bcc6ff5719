"""Infrastructure: settings, the clock seam, the store, policies on disk, the sweeper."""
