"""GMM estimation: the `Problem`, its parameters θ, the moment blocks stacked by the seam, the outer loop
(`estimator`), the results it returns and the maths of a multi-start."""
