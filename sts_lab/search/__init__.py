"""The job's side of an Optuna search: its trial (``trial``), the storage (``storage``), conditional search
spaces (``spaces``) and what the jobs of a sweep share (``sweep_cache``)."""
