"""Registry entries, one module per family. :mod:`losskit.registry` collects them."""
