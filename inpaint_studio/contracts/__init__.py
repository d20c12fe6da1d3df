"""Contracts that the app, the engine and the trainer share, written once: standard library only
(no Qt, no torch), so that every room may import them.

  training  the settings of a training run and their defaults (config, command line, app form)
  runs      the files of a run folder and the statuses a run ends in
  events    the trainer's event kinds and the one reader of JSON-lines events
  card      the model card (a dataclass, validated when read)
  devices   the rules behind device and precision "auto", for inference and for training
  commands  the small runner both command lines use, and the name their usage lines show
"""
