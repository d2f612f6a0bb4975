"""Runtime plumbing: thread counts and BLAS limits, aligned buffers, the build's config.

Nothing here knows about models or optimizers; everything above may use it."""
