"""What the code-sequence video models (ar-transformer, maskgit, latent-predictor) share:
the factory's shape/weights/fit/save/load plumbing (:mod:`.model`), training-loop pieces
(:mod:`.train`) and Config fields (:mod:`.config`)."""
