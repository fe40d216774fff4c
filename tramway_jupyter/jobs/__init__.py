"""Notebook-to-jobs: plan, batch directories, the job store, the worker and gathering."""
