"""The data-quality report: static HTML pages a table's owner reads without the Dagster UI.

``gather`` reads the facts (warehouse, Dagster instance, contracts, alert store) into the
plain data of ``facts``; ``render`` turns facts into files. The two never meet otherwise, so
the renderer is tested and benchmarked on synthetic facts at any scale.
"""
