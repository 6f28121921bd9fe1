"""The pytest suite that drives requests: one test item per planned result id."""
