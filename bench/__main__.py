"""``python -m bench``: every benchmark of the project, printed side by side with its peers."""
from bench import classifier, detection, location, picking, sim_generation

sim_generation.main()
detection.main()
picking.main([])
location.main([])
classifier.main([])
