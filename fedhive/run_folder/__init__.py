"""A run is a folder: its metrics rows and summary (recorder), checkpoints and resume, stopping
(signals, `stop:` targets), progress, trackers, its environment and safe file writes."""
