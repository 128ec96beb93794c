"""The synthetic example trainer as a Python package: run `python3 -m trainer.task`."""
