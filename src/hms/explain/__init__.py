"""What the model learned about each class: SAE feature statistics, per-class rankings, clusters, descriptions."""
