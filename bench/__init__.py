"""`make bench`: the handoff channel measured on the real system, every
comparison side by side in one run (A/B interleaved), reported as ratios."""
