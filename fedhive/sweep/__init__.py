"""`fedhive sweep`: a grid of runs (grid), run in worker processes, resumably (runner), with a progress bar."""
