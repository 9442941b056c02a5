"""The transform layer: the dbt project (models, macros, seeds) and the Python steps dbt cannot do (matching)."""
