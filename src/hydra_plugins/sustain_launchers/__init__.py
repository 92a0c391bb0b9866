"""sustain's Hydra launchers: submitit sweeps in which every job asks for its own resources.

Hydra imports every module of the `hydra_plugins` namespace at start-up, so nothing here imports
submitit at module level.
"""
