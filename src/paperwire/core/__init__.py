"""The domain every layer shares: typed models, the clock, errors, arXiv ids, feed periods,
query syntax, the merge rule, signing and passwords, settings, and the plugin hook specs.

Nothing here talks to a database, the network or a web framework; everything above imports
from here, and nothing here imports from above (import-linter holds the layers)."""
